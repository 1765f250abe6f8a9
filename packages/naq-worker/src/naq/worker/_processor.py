"""What happens to one delivered message: decode, account for redeliveries, run, record the outcome.

Hot path of a successful first delivery: decode, run, one result write, one ack, events published
without waiting. Reads of stored state happen only on redeliveries (``num_delivered > 1``).

A write that JetStream refuses has the message delivered again later, except a write too large
for the server's max payload, which no retry can fix: a result too large fails the job for good
at once (``ResultTooLargeError``), errors are cut to fit their records and events, a dead-letter
record that cannot hold the job keeps its raw bytes cut to fit, a retry that cannot be scheduled
waits on a delayed nak, and anything else too large ends the job (or drops the message) with one
ERROR line. Never a storage retry in a loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import nats.errors
from loguru import logger

from naq.client.runtime import (
    decide,
    delete_waiting,
    dependency_ended,
    dependency_states,
    park,
    parked_on,
    parked_record,
    publish_event,
    publish_system_event,
    release,
)
from naq.protocol import (
    DependencyOutcome,
    DependencyVerdict,
    ErrorInfo,
    EventKind,
    JobEnvelope,
    JobRejectedError,
    JobStatus,
    JobStatusRecord,
    JobTimeoutError,
    MessageTooLargeError,
    ResultRecord,
    ResultStatus,
    ResultTooLargeError,
    SerializationError,
    SystemEventKind,
    UndecodableMessageRecord,
    Verdict,
    WorkerLostError,
    get_serializer,
    names,
)
from naq.protocol.context import JobContext, wants_context
from naq.protocol.retry import retry_delay, should_retry
from naq.protocol.sizes import truncate_text
from naq.worker._loader import load_call
from naq.worker._store import JobStore

__all__ = ["NAK_DELAY_LIMIT", "Delivery", "JobProcessor"]

NAK_DELAY_LIMIT: Final = 5.0
"""Longest retry delay served by a delayed nak; longer ones go through a server-side schedule, so
waiting retries do not hold the consumer's ack-pending capacity."""

STORAGE_RETRY_DELAY: Final = 5.0
"""Seconds before a job whose outcome could not be stored is delivered again."""

EVENT_ERROR_BYTES: Final = 4096
"""Most bytes of error text an event or a log line carries; the whole error (cut only to fit the
max payload) is in the result and dead-letter records."""


class _CancelRequested(Exception):
    """The running job was cancelled (``cancel_job``)."""


class _Permanent(Exception):
    """A failure no retry can fix (bad input); wraps the error to report."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class Delivery:
    """One delivered message and where it stands."""

    message: Any
    queue: str
    started: float = 0.0
    """When the delivery arrived (monotonic clock)."""
    job_id: str | None = None
    envelope: JobEnvelope | None = None
    settling: bool = False
    """Set once the job's end is being recorded (failing for good, or its result stored): a write
    too large to store then drops the message instead of failing the job (again)."""
    attempt: int = 0
    announced: bool = False
    """Whether a ``started`` event was published (only for jobs still running after a moment)."""
    last_progress: float = 0.0
    """When the last in-progress ack was sent (monotonic clock)."""
    slot_kept: bool = False
    """Set when a timed-out sync job's thread still runs: its slot is freed when the thread ends."""
    context: JobContext | None = None
    cancel_requested: bool = False
    """Set by a cancel command while the job runs: its outcome is recorded as cancelled."""
    interruptible: bool = False
    """True while an async job function runs: a cancel command may cancel the task then."""


Runner = Callable[[Callable[..., Any], list[Any], dict[str, Any], float | None], Awaitable[Any]]


def _error_info(error: BaseException) -> ErrorInfo:
    return ErrorInfo.from_exception(error.error if isinstance(error, _Permanent) else error)


def _too_large(error: BaseException) -> bool:
    """Whether a write failed for its size, which no retry can change (naq's check, or nats-py's
    own for the publishes that do not go through it)."""
    return isinstance(error, MessageTooLargeError | nats.errors.MaxPayloadError)


def _brief(text: str) -> str:
    """``text`` cut for an event or a log line."""
    return truncate_text(text, EVENT_ERROR_BYTES)


class JobProcessor:
    """Runs delivered jobs for one worker and records what became of them."""

    def __init__(self, worker: Any, store: JobStore, run: Runner) -> None:
        self.worker = worker
        self.store = store
        self.run = run
        self.connection = store.connection
        self.settings = store.settings

    async def process(self, delivery: Delivery) -> None:
        """Handle one message to the end: it is acked, nak'd or handed to the dead-letter queue."""
        message = delivery.message
        try:
            envelope = JobEnvelope.decode(message.data)
        except SerializationError as exc:
            await self._reject_undecodable(delivery, exc)
            return
        delivery.job_id = envelope.job_id
        delivery.envelope = envelope
        self.worker.running_changed()
        attempt = _header_attempt(message)
        status: JobStatusRecord | None = None
        if _delivery_count(message) > 1:
            accounted = await self._account_redelivery(delivery, envelope, attempt)
            if accounted is None:
                return
            attempt, status = accounted
        if envelope.job_id in self.worker.cancelled.ids:  # an in-memory set, fed by a watch
            await self._end_cancelled(delivery, envelope, attempt - 1, started=None)
            return
        if envelope.depends_on:
            try:
                ready = await self._dependencies_met(delivery, envelope, attempt)
            except Exception as exc:  # the dependency state could not be read or written
                await self._storage_failed(delivery, exc)
                return
            if not ready:
                return
        await self._run(delivery, envelope, attempt, status.crashes if status else 0)

    # --- dependencies ------------------------------------------------------------------------------

    async def _dependencies_met(self, delivery: Delivery, envelope: JobEnvelope, attempt: int) -> bool:
        """Whether the job may run now; if not, it was parked, failed or dropped (and acked)."""
        message = delivery.message
        verdict = DependencyVerdict.parse((message.headers or {}).get(names.HEADER_DEPENDENCIES))
        if verdict is None:  # not decided by whoever published it (e.g. a requeue): look now
            states = await dependency_states(self.connection, envelope.depends_on)
            verdict = decide(envelope, states)
            if verdict is None:
                if await self._store_outcome(delivery, park(self.connection, [envelope], states)):
                    await message.ack()
                return False
        if verdict.verdict is Verdict.MET:
            return True
        if verdict.verdict is Verdict.DEADLINE:
            if await self._store_outcome(delivery, self._deadline_due(envelope, verdict.generation)):
                await message.ack()
            return False
        if verdict.verdict is Verdict.CANCELLED:
            await self._end_cancelled(delivery, envelope, attempt - 1, started=None)
            return False
        for dependency in envelope.depends_on:  # what is left of its parking
            await delete_waiting(self.connection, dependency, envelope.job_id)
        assert verdict.dependency is not None  # a failed verdict always names its dependency
        outcome = verdict.outcome or DependencyOutcome.FAILED
        error = ErrorInfo.dependency_failed(envelope.job_id, verdict.dependency, outcome)
        await self._fail_for_good(delivery, envelope, attempt - 1, error, started=None)  # it never ran
        return False

    async def _deadline_due(self, envelope: JobEnvelope, generation: int) -> None:
        """A parking's ``dependency_timeout`` is due: fail the job if it still waits (or release it late)."""
        connection = self.connection
        records = [await parked_record(connection, d, envelope.job_id) for d in envelope.depends_on]
        waiting = [r for r in records if r is not None and r.generation == generation]
        if not waiting:
            return  # released already, or parked again later
        pending = [d for d, r in zip(envelope.depends_on, records, strict=True) if r in waiting]
        states = await dependency_states(connection, pending)
        for dependency in pending:
            state = states[dependency]
            if state is not None:  # ended, but its release was missed: release now
                await dependency_ended(connection, dependency, waiting[0], state)
        still = [d for d in pending if states[d] is None]
        if still:
            await release(connection, waiting[0], DependencyVerdict.failed(still[0], DependencyOutcome.TIMEOUT))

    async def _ended(self, job_id: str, state: ResultStatus) -> None:
        """Release what was parked on a job that just ended (before its message is acked)."""
        await self._release(job_id, self.worker.waiting.ended(job_id, state), state)

    async def _release_all(self, job_id: str, state: ResultStatus) -> None:
        """Release every job parked on ``job_id``, read from the stream rather than the watch."""
        for record in await parked_on(self.connection, job_id):
            await dependency_ended(self.connection, job_id, record, state)

    async def _release(self, job_id: str, dependents: list[str], state: ResultStatus) -> None:
        for dependent in dependents:
            record = await parked_record(self.connection, job_id, dependent)
            if record is not None:
                await dependency_ended(self.connection, job_id, record, state)

    async def release_late_parking(self, dependency: str, dependent: str, state: ResultStatus) -> None:
        """A dependent was parked on a job this worker ended moments ago: release it now."""
        await self._release(dependency, [dependent], state)

    async def _end_cancelled(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int, started: float | None
    ) -> None:
        worker = self.worker
        record = ResultRecord.cancelled(
            envelope.job_id,
            envelope.queue,
            serializer=envelope.serializer,
            attempts=attempt,
            started_at=started,
            worker_id=worker.worker_id,
        )
        if not await self._store_outcome(delivery, self.store.write_result(record, envelope.result_ttl)):
            return
        delivery.settling = True
        for dependency in envelope.depends_on:  # what is left of a parking
            await delete_waiting(self.connection, dependency, envelope.job_id)
        if not await self._store_outcome(delivery, self._ended(envelope.job_id, "cancelled")):
            return
        await delivery.message.ack()
        logger.info("job {} cancelled", envelope.job_id)
        await publish_event(self.connection, EventKind.CANCELLED, envelope.queue, envelope.job_id, worker.worker_id)

    async def _account_redelivery(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int
    ) -> tuple[int, JobStatusRecord | None] | None:
        """Tell a retry (our own delayed nak) from a crash; ``None`` when the message is done with."""
        message = delivery.message
        delivered = message.metadata.num_delivered
        sequence = message.metadata.sequence.stream
        ended = await self.store.read_result(envelope.job_id)
        if ended is not None:
            # It already ended: never run a job twice when we can know. Its worker may have died
            # before releasing its dependents, so release them (again; releases are idempotent).
            self.worker.waiting.ended(envelope.job_id, ended.status)
            if await self._store_outcome(delivery, self._release_all(envelope.job_id, ended.status)):
                await message.ack()
            return None
        status = await self.store.read_status(envelope.job_id)
        if status is not None and status.stream_sequence != sequence:
            status = None  # written for another message of this job (an earlier publish)
        if status is None:
            unexplained, crashes, attempt_now = delivered - 1, delivered - 1, attempt
        else:
            explained = 1 if status.status == JobStatus.RETRYING else 0
            unexplained = delivered - status.deliveries - explained
            crashes, attempt_now = status.crashes + unexplained, status.attempts + 1
        if unexplained <= 0:
            return attempt_now, status
        if crashes >= self.settings.max_crash_redeliveries:
            lost = WorkerLostError(
                f"worker lost during execution: job {envelope.job_id} was delivered {delivered} times and "
                f"its worker died {crashes} times (NAQ_MAX_CRASH_REDELIVERIES={self.settings.max_crash_redeliveries})"
            )
            await self._fail_for_good(delivery, envelope, attempt_now, ErrorInfo.from_exception(lost), started=None)
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
        )
        await self.store.write_status(status)
        return attempt_now, status

    async def _run(self, delivery: Delivery, envelope: JobEnvelope, attempt: int, crashes: int) -> None:
        worker = self.worker
        started = time.time()
        context = JobContext(
            job_id=envelope.job_id,
            queue=envelope.queue,
            attempt=attempt,
            max_retries=envelope.max_retries,
            worker_id=worker.worker_id,
            function=envelope.function,
            state=worker.state,
        )
        delivery.attempt = attempt
        delivery.context = context
        if attempt > 1:  # a retry: announce it, so the events show running again
            await self._announce_start(delivery, envelope, started)
        try:
            try:
                func, args, kwargs = load_call(envelope, worker.allow_pickle, worker.allowed_modules)
            except (JobRejectedError, SerializationError) as exc:
                raise _Permanent(exc) from exc
            if wants_context(func):
                args = [context, *args]
            await worker.call_hooks("before_job", context)
            value = await self._call(delivery, func, args, kwargs, envelope.timeout)
            try:
                stored = get_serializer(envelope.serializer).dump_value(value)
            except SerializationError as exc:
                raise _Permanent(exc) from exc
        except _CancelRequested as exc:
            await self._end_cancelled(delivery, envelope, attempt, started)
            await worker.call_hooks("after_job", context, exc)
            return
        except (SystemExit, KeyboardInterrupt) as exc:
            # A job must not stop its worker; it fails like any other error, without retries.
            await self._failed(delivery, envelope, attempt, crashes, _Permanent(exc), started)
            await worker.call_hooks("after_job", context, exc)
            return
        except Exception as exc:
            await self._failed(delivery, envelope, attempt, crashes, exc, started)
            await worker.call_hooks("after_job", context, exc)
            return
        record = ResultRecord.completed(
            envelope, stored, attempts=attempt, started_at=started, worker_id=worker.worker_id
        )
        try:
            await self.store.write_result(record, envelope.result_ttl)
        except ResultTooLargeError as exc:  # the same value every time: fail for good, no retry
            await self._failed(delivery, envelope, attempt, crashes, _Permanent(exc), started)
            await worker.call_hooks("after_job", context, exc)
            return
        except Exception as exc:  # a full bucket, a lost stream: the job must come back, not vanish
            await self._storage_failed(delivery, exc)
        else:
            delivery.settling = True
            dependents = worker.waiting.ended(envelope.job_id, "completed")
            if dependents:  # rare: release them before the ack, so a crash cannot lose the release
                released = self._release(envelope.job_id, dependents, "completed")
                if not await self._store_outcome(delivery, released):
                    return
            await delivery.message.ack()
            worker.counted(envelope.queue, failed=False)
            worker.completions.add(envelope.queue, envelope.job_id, attempt, started, record.finished_at - started)
        await worker.call_hooks("after_job", context, None)

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

    async def _announce_start(self, delivery: Delivery, envelope: JobEnvelope, started: float) -> None:
        """Publish the attempt's ``started`` event if it has not been (short successful first
        attempts never publish one: their ``completed`` event carries ``started_at``)."""
        if delivery.announced:
            return
        delivery.announced = True
        await publish_event(
            self.connection,
            EventKind.STARTED,
            envelope.queue,
            envelope.job_id,
            self.worker.worker_id,
            attempt=delivery.attempt,
            started_at=started,
        )

    async def _failed(
        self,
        delivery: Delivery,
        envelope: JobEnvelope,
        attempt: int,
        crashes: int,
        error: BaseException,
        started: float,
    ) -> None:
        if isinstance(error, JobTimeoutError) and error.thread_running:
            delivery.slot_kept = True
        await self._announce_start(delivery, envelope, started)  # running, then retrying or failed
        retryable = not isinstance(error, _Permanent)
        if not (retryable and should_retry(envelope, error, attempt)):
            await self._fail_for_good(delivery, envelope, attempt, _error_info(error), started)
            return
        delay = retry_delay(envelope, attempt)
        message = delivery.message
        status = JobStatusRecord(
            job_id=envelope.job_id,
            queue=envelope.queue,
            status=JobStatus.RETRYING,
            attempts=attempt,
            updated_at=time.time(),
            crashes=crashes,
            stream_sequence=message.metadata.sequence.stream,
            deliveries=message.metadata.num_delivered,
        )
        nak = delay <= NAK_DELAY_LIMIT
        if not nak:
            try:
                await self.store.publish_delayed(envelope, attempt + 1, time.time() + delay)
            except MessageTooLargeError:
                # The job with the schedule's headers does not fit in a message: it waits on a
                # delayed nak instead, holding one unit of ack-pending capacity meanwhile.
                nak = True
            except Exception as exc:
                await self._storage_failed(delivery, exc)
                return
        if nak:
            if not await self._store_outcome(delivery, self.store.write_status(status)):
                return
            await message.nak(delay=delay)
        else:
            await self._store_outcome(None, self.store.write_status(status))
            await message.ack()
        text = _brief(f"{type(error).__name__}: {error}")
        logger.debug("job {} attempt {} failed ({}); retrying in {:.3f} s", envelope.job_id, attempt, text, delay)
        await publish_event(
            self.connection,
            EventKind.RETRYING,
            envelope.queue,
            envelope.job_id,
            self.worker.worker_id,
            attempt=attempt,
            delay=delay,
            error=text,
        )

    async def _fail_for_good(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int, error: ErrorInfo, started: float | None
    ) -> None:
        worker = self.worker
        delivery.settling = True
        record = ResultRecord.failed(envelope, error, attempts=attempt, started_at=started, worker_id=worker.worker_id)
        # Dead letter first: whoever sees the failed result can then find the job in the DLQ.
        if not await self._dead_letter(delivery, envelope, error, attempt):
            return
        if not await self._store_outcome(delivery, self.store.write_result(record, envelope.result_ttl)):
            return
        if not await self._store_outcome(delivery, self._ended(envelope.job_id, "failed")):
            return
        await delivery.message.ack()
        worker.counted(envelope.queue, failed=True)
        text = _brief(error.message)
        logger.info("job {} failed for good after {} attempt(s): {}: {}", envelope.job_id, attempt, error.type, text)
        await publish_event(
            self.connection,
            EventKind.FAILED,
            envelope.queue,
            envelope.job_id,
            worker.worker_id,
            attempt=attempt,
            error_type=error.type,
            error=text,
        )

    async def _dead_letter(self, delivery: Delivery, envelope: JobEnvelope, error: ErrorInfo, attempt: int) -> bool:
        """Put the job in the dead-letter queue; ``False`` if that failed (and was dealt with)."""
        try:
            await self.store.dead_letter(envelope, error, attempt, self.worker.worker_id)
        except MessageTooLargeError:
            # The job nearly fills a message by itself, so no record holds it and its error:
            # keep its raw bytes instead, cut to fit, with the size and digest of the whole.
            return await self._store_outcome(delivery, self._dead_letter_raw(delivery, error, envelope.job_id))
        except Exception as exc:
            await self._storage_failed(delivery, exc)
            return False
        return True

    def _dead_letter_raw(
        self, delivery: Delivery, error: ErrorInfo, job_id: str | None = None
    ) -> Awaitable[UndecodableMessageRecord]:
        message = delivery.message
        return self.store.dead_letter_raw(
            delivery.queue,
            message.subject,
            message.metadata.sequence.stream,
            message.data,
            dict(message.headers or {}),
            error,
            job_id,
        )

    async def _store_outcome(self, delivery: Delivery | None, write: Awaitable[object]) -> bool:
        """Await a write; if JetStream refuses it, have the message delivered again later."""
        try:
            await write
        except Exception as exc:  # a full bucket, a lost stream: the job must come back, not vanish
            await self._storage_failed(delivery, exc)
            return False
        return True

    async def _storage_failed(self, delivery: Delivery | None, error: Exception) -> None:
        if _too_large(error):
            await self._unstorable(delivery, error)
            return
        logger.error("could not store a job outcome ({}); the job will be delivered again", _brief(str(error)))
        await publish_system_event(
            self.connection, SystemEventKind.STORAGE_ERROR, self.worker.worker_id, error=_brief(str(error))
        )
        if delivery is not None:
            await delivery.message.nak(delay=STORAGE_RETRY_DELAY)

    async def _unstorable(self, delivery: Delivery | None, error: Exception) -> None:
        """A write is too large for any retry to store it: end the job, never deliver it again."""
        if delivery is not None and delivery.envelope is not None and not delivery.settling:
            # Nothing of the job's end is stored yet: it fails for good with this error.
            info = ErrorInfo.from_exception(error)
            await self._fail_for_good(delivery, delivery.envelope, delivery.attempt, info, started=None)
            return
        ended = "; the message is dropped" if delivery is not None else ""
        logger.error("could not store a job outcome, too large for any retry ({}){}", _brief(str(error)), ended)
        await publish_system_event(
            self.connection, SystemEventKind.STORAGE_ERROR, self.worker.worker_id, error=_brief(str(error))
        )
        if delivery is not None:
            await delivery.message.ack()

    async def _reject_undecodable(self, delivery: Delivery, error: SerializationError) -> None:
        message = delivery.message
        sequence = message.metadata.sequence.stream
        if await self._store_outcome(delivery, self._dead_letter_raw(delivery, ErrorInfo.from_exception(error))):
            await message.ack()
            self.worker.counted(delivery.queue, failed=True)
            text = _brief(str(error))
            size = len(message.data)
            logger.warning("undecodable message {} ({} bytes) on queue {}: {}", sequence, size, delivery.queue, text)
            await publish_event(
                self.connection, EventKind.FAILED, delivery.queue, None, self.worker.worker_id, error=text
            )


_V1_ACK_TOKENS: Final = 9
"""``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``"""


def _delivery_count(message: Any) -> int:
    """How often the message was delivered, from its ack subject.

    Read on every delivery, so the common reply form is split here; nats-py's ``metadata`` also
    parses a timestamp into a datetime the hot path never needs. Other forms go through it.
    """
    tokens = (message.reply or "").split(".")
    if len(tokens) == _V1_ACK_TOKENS and tokens[1] == "ACK":
        return int(tokens[4])
    return message.metadata.num_delivered


def _header_attempt(message: Any) -> int:
    raw = (message.headers or {}).get(names.HEADER_ATTEMPT)
    if raw is None:
        return 1
    try:
        return max(1, int(raw))
    except ValueError:
        return 1
