"""What happens to one delivered message: decode, account for redeliveries, gate, run; the end is
recorded by :mod:`naq.worker._outcomes`.

Hot path of a successful first delivery: decode, run, one result write, one ack, events published
without waiting. Reads of stored state happen only on redeliveries (``num_delivered > 1``) and for
jobs with dependencies (:mod:`naq.worker._gating`).
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, runtime_checkable

from naq.protocol import (
    DependencyOutcome,
    ErrorInfo,
    JobEnvelope,
    JobRejectedError,
    JobStatus,
    JobStatusRecord,
    SerializationError,
    Verdict,
    WorkerLostError,
    get_serializer,
)
from naq.protocol.context import JobContext, wants_context
from naq.worker._delivery import Delivery, announce_started, delivery_count, header_attempt
from naq.worker._gating import DependencyGate
from naq.worker._isolation import Isolation
from naq.worker._loader import load_call
from naq.worker._outcomes import Outcomes, Permanent
from naq.worker._store import JobStore
from naq.worker._watches import CancelledJobs

__all__ = ["CRASH_JITTER_MAX", "JobProcessor", "ProcessorHost", "Runner"]

CRASH_JITTER_MAX: Final = 10.0
"""Most seconds a job already charged with a crash waits, at random, before its next lone run."""

Runner = Callable[[Callable[..., Any], list[Any], dict[str, Any], float | None], Awaitable[Any]]
"""Runs ``func(*args, **kwargs)`` within a timeout (seconds or ``None``): the worker's executor."""


@runtime_checkable
class ProcessorHost(Protocol):
    """What the processor reads of the worker: who runs the job, with what it may run, and the
    hooks and views around it."""

    worker_id: str
    state: dict[str, Any]
    """The ``on_startup`` state, passed to jobs in their context."""
    allow_pickle: bool
    allowed_modules: tuple[str, ...] | None
    cancelled: CancelledJobs
    """Ids of cancelled jobs (fed by a watch), checked on every delivery without I/O."""

    def running_changed(self) -> None:
        """A job joined or left the running jobs (the heartbeat tells the registry)."""
        ...

    async def call_hooks(self, name: str, *args: Any) -> None:
        """Run the worker's ``name`` hooks (``before_job``, ``after_job``)."""
        ...


class _CancelRequested(Exception):
    """The running job was cancelled (``cancel_job``)."""


class JobProcessor:
    """Runs delivered jobs for one worker: ``run`` executes the function, ``gate`` decides on jobs
    with dependencies, ``outcomes`` records how each ends."""

    def __init__(
        self, host: ProcessorHost, store: JobStore, gate: DependencyGate, outcomes: Outcomes, run: Runner
    ) -> None:
        self.host = host
        self.store = store
        self.gate = gate
        self.outcomes = outcomes
        self.run = run
        self.connection = store.connection
        self.settings = store.settings
        self.keys = self.settings.keys
        """``NAQ_SIGNING_KEY``'s keys: set, every job's signature is checked before it is decoded."""
        self.isolation = Isolation()
        """Suspects (deliveries after a lost one) run alone: see :mod:`naq.worker._isolation`."""

    async def process(self, delivery: Delivery) -> None:
        """Handle one message to the end: it is acked, nak'd or handed to the dead-letter queue."""
        message = delivery.message
        if self.keys is not None and (refused := self.outcomes.signature_refused(delivery, self.keys)) is not None:
            await refused  # not decoded, let alone run: the raw message goes to the DLQ with the reason
            return
        try:
            envelope = JobEnvelope.decode(message.data)
        except SerializationError as exc:
            await self.outcomes.undecodable(delivery, exc)
            return
        delivery.job_id = envelope.job_id
        delivery.envelope = envelope
        self.host.running_changed()
        attempt = header_attempt(message)
        status: JobStatusRecord | None = None
        suspect = False
        if delivery_count(message) > 1:
            accounted = await self._account_redelivery(delivery, envelope, attempt)
            if accounted is None:
                return
            attempt, status, suspect = accounted
        if envelope.job_id in self.host.cancelled.ids:  # an in-memory set, fed by a watch
            await self.outcomes.cancelled(delivery, envelope, attempt - 1, started=None)
            return
        if envelope.depends_on and not await self._admitted(delivery, envelope, attempt):
            return
        crashes = status.crashes if status else 0
        isolation = self.isolation
        if suspect:  # it may have killed its last worker: it runs alone, so a crash now is its own
            assert status is not None  # a suspect's status is made by the accounting
            if crashes:
                # Charged before: start at a random moment, so that something killing workers on
                # a period (a restart loop, an operator's script) does not keep hitting its lone
                # runs in step, which would charge an innocent job again and again.
                jitter = random.uniform(0.0, min(self.settings.ack_wait, CRASH_JITTER_MAX))  # noqa: S311 (not a secret)
                await asyncio.sleep(jitter)
            async with isolation.exclusive():
                # Written once alone, before it runs: the mark that charges a crash from here on to it.
                await self.store.write_status(status)
                await self._run(delivery, envelope, attempt, crashes)
            return
        await isolation.join()
        try:
            await self._run(delivery, envelope, attempt, crashes)
        finally:
            isolation.leave()

    async def _admitted(self, delivery: Delivery, envelope: JobEnvelope, attempt: int) -> bool:
        """Whether a job with dependencies may run now; if not, it was parked, failed or dropped (and acked)."""
        outcomes = self.outcomes
        try:
            verdict = await self.gate.verdict(delivery.message, envelope)
            if verdict is None:  # parked, or a parking's deadline dealt with
                await delivery.message.ack()
                return False
            if verdict.verdict is Verdict.MET:
                return True
            if verdict.verdict is Verdict.CANCELLED:
                await outcomes.cancelled(delivery, envelope, attempt - 1, started=None)
                return False
            await self.gate.unpark(envelope)
            assert verdict.dependency is not None  # a failed verdict always names its dependency
            outcome = verdict.outcome or DependencyOutcome.FAILED
            error = ErrorInfo.dependency_failed(envelope.job_id, verdict.dependency, outcome)
            await outcomes.failed_for_good(delivery, envelope, attempt - 1, error, started=None)  # it never ran
        except Exception as exc:  # the dependency state could not be read or written
            await outcomes.storage_failed(delivery, exc)
        return False

    async def _account_redelivery(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int
    ) -> tuple[int, JobStatusRecord | None, bool] | None:
        """Tell a retry (our own delayed nak) from a lost delivery; ``None`` when the message is done with.

        Otherwise (attempt, status, suspect): a suspect is a delivery that follows a lost one (its
        worker died or let the ack wait pass), and runs alone; its status record, to be written
        then, marks the delivery ``isolated``. A lost delivery is charged to the
        job as a crash only if it ran alone (``isolated`` in its status record): a job that merely
        shared a process with the job that killed it is never charged.
        """
        message = delivery.message
        delivered = message.metadata.num_delivered
        sequence = message.metadata.sequence.stream
        ended = await self.store.read_result(envelope.job_id)
        if ended is not None:
            # It already ended: never run a job twice when we can know. Its worker may have died
            # before releasing its dependents, so release them (again; releases are idempotent).
            if await self.outcomes.store_write(delivery, self.gate.release_all(envelope.job_id, ended.status)):
                await message.ack()
            return None
        status = await self.store.read_status(envelope.job_id)
        if status is not None and status.stream_sequence != sequence:
            status = None  # written for another message of this job (an earlier publish)
        if status is None:
            lost, crashes, attempt_now = delivered - 1, 0, attempt
        else:
            explained = 1 if status.status == JobStatus.RETRYING else 0
            lost = delivered - status.deliveries - explained
            # Only the recorded delivery can have run alone: a later lost one never started the job
            # (a suspect's status is written once it runs alone, before the job starts).
            charged = 1 if status.isolated and lost > 0 else 0
            crashes, attempt_now = status.crashes + charged, status.attempts + 1
        if lost <= 0:
            return attempt_now, status, False
        limit = self.settings.max_crash_redeliveries
        if crashes >= limit:
            lost_error = WorkerLostError(
                f"worker lost during execution: job {envelope.job_id} was delivered {delivered} times and "
                f"its worker died {crashes} times while running it alone (NAQ_MAX_CRASH_REDELIVERIES={limit})"
            )
            error = ErrorInfo.from_exception(lost_error)
            await self.outcomes.failed_for_good(delivery, envelope, attempt_now, error, started=None)
            return None
        status = JobStatusRecord(
            job_id=envelope.job_id,
            queue=envelope.queue,
            status=JobStatus.RUNNING,
            attempts=attempt_now - 1,
            updated_at=time.time(),
            crashes=crashes,
            stream_sequence=sequence,
            deliveries=delivered,
            isolated=True,
        )
        return attempt_now, status, True  # the status is written once it runs alone

    async def _run(self, delivery: Delivery, envelope: JobEnvelope, attempt: int, crashes: int) -> None:
        host = self.host
        outcomes = self.outcomes
        started = time.time()
        context = JobContext(
            job_id=envelope.job_id,
            queue=envelope.queue,
            attempt=attempt,
            max_retries=envelope.max_retries,
            worker_id=host.worker_id,
            function=envelope.function,
            state=host.state,
        )
        delivery.attempt = attempt
        delivery.context = context
        if attempt > 1:  # a retry: announce it, so the events show running again
            await announce_started(self.connection, host.worker_id, delivery, envelope.queue, envelope.job_id, started)
        try:
            try:
                func, args, kwargs = load_call(envelope, host.allow_pickle, host.allowed_modules)
            except (JobRejectedError, SerializationError) as exc:
                raise Permanent(exc) from exc
            if wants_context(func):
                args = [context, *args]
            await host.call_hooks("before_job", context)
            value = await self._call(delivery, func, args, kwargs, envelope.timeout)
            try:
                stored = get_serializer(envelope.serializer).dump_value(value)
            except SerializationError as exc:
                raise Permanent(exc) from exc
        except _CancelRequested as exc:
            await outcomes.cancelled(delivery, envelope, attempt, started)
            await host.call_hooks("after_job", context, exc)
            return
        except (SystemExit, KeyboardInterrupt) as exc:
            # A job must not stop its worker; it fails like any other error, without retries.
            await outcomes.failed(delivery, envelope, attempt, crashes, Permanent(exc), started)
            await host.call_hooks("after_job", context, exc)
            return
        except Exception as exc:
            await outcomes.failed(delivery, envelope, attempt, crashes, exc, started)
            await host.call_hooks("after_job", context, exc)
            return
        error = await outcomes.completed(delivery, envelope, attempt, crashes, stored, started)
        await host.call_hooks("after_job", context, error)

    async def _call(
        self,
        delivery: Delivery,
        func: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        """Run the function; ``_CancelRequested`` if a cancel command came while it ran."""
        if delivery.cancel_requested:  # cancelled between its delivery and now
            raise _CancelRequested()
        delivery.interruptible = inspect.iscoroutinefunction(func)
        try:
            value = await self.run(func, args, kwargs, timeout)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            # Our own cancel (one request) becomes the job's outcome; a worker shutdown propagates.
            if delivery.cancel_requested and task is not None and task.cancelling() == 1:
                task.uncancel()
                raise _CancelRequested() from None
            raise
        except Exception:
            if delivery.cancel_requested:
                raise _CancelRequested() from None
            raise
        finally:
            delivery.interruptible = False
        if delivery.cancel_requested:  # a sync job that returned after the cancel
            raise _CancelRequested()
        return value
