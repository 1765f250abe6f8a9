"""What happens to one delivered message: decode, account for redeliveries, run, record the outcome.

Hot path of a successful first delivery: decode, run, one result write, one ack, events published
without waiting. Reads of stored state happen only on redeliveries (``num_delivered > 1``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from loguru import logger

from naq.client._events import publish_event, publish_system_event
from naq.protocol import (
    ErrorInfo,
    EventKind,
    JobEnvelope,
    JobStatus,
    JobStatusRecord,
    ResultRecord,
    SerializationError,
    SystemEventKind,
    get_serializer,
    names,
)
from naq.protocol.context import JobContext, wants_context
from naq.protocol.retry import retry_delay, should_retry
from naq.worker._executor import JobTimeoutError
from naq.worker._loader import JobRejectedError, load_call
from naq.worker._store import JobStore

__all__ = ["NAK_DELAY_LIMIT", "Delivery", "JobProcessor", "WorkerLostError"]

NAK_DELAY_LIMIT: Final = 5.0
"""Longest retry delay served by a delayed nak; longer ones go through a server-side schedule, so
waiting retries do not hold the consumer's ack-pending capacity."""

STORAGE_RETRY_DELAY: Final = 5.0
"""Seconds before a job whose outcome could not be stored is delivered again."""


class WorkerLostError(Exception):
    """The job's worker died while running it, too many times (``NAQ_MAX_CRASH_REDELIVERIES``)."""


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
    attempt: int = 0
    announced: bool = False
    """Whether a ``started`` event was published (only for jobs still running after a moment)."""
    last_progress: float = 0.0
    """When the last in-progress ack was sent (monotonic clock)."""
    slot_kept: bool = False
    """Set when a timed-out sync job's thread still runs: its slot is freed when the thread ends."""


Runner = Callable[[Callable[..., Any], list[Any], dict[str, Any], float | None], Awaitable[Any]]


def _error_info(error: BaseException) -> ErrorInfo:
    return ErrorInfo.from_exception(error.error if isinstance(error, _Permanent) else error)


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
        metadata = message.metadata
        try:
            envelope = JobEnvelope.decode(message.data)
        except SerializationError as exc:
            await self._reject_undecodable(delivery, exc)
            return
        delivery.job_id = envelope.job_id
        attempt = _header_attempt(message)
        status: JobStatusRecord | None = None
        if metadata.num_delivered > 1:
            accounted = await self._account_redelivery(delivery, envelope, attempt)
            if accounted is None:
                return
            attempt, status = accounted
        await self._run(delivery, envelope, attempt, status.crashes if status else 0)

    async def _account_redelivery(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int
    ) -> tuple[int, JobStatusRecord | None] | None:
        """Tell a retry (our own delayed nak) from a crash; ``None`` when the message is done with."""
        message = delivery.message
        delivered = message.metadata.num_delivered
        sequence = message.metadata.sequence.stream
        if await self.store.read_result(envelope.job_id) is not None:
            await message.ack()  # it already ended: never run a job twice when we can know
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
        try:
            try:
                func, args, kwargs = load_call(envelope, worker.allow_pickle, worker.allowed_modules)
            except (JobRejectedError, SerializationError) as exc:
                raise _Permanent(exc) from exc
            if wants_context(func):
                args = [context, *args]
            await worker.call_hooks("before_job", context)
            value = await self.run(func, args, kwargs, envelope.timeout)
            try:
                stored = get_serializer(envelope.serializer).dump_value(value)
            except SerializationError as exc:
                raise _Permanent(exc) from exc
        except (SystemExit, KeyboardInterrupt) as exc:
            # A job must not stop its worker; it fails like any other error, without retries.
            await self._failed(delivery, envelope, attempt, crashes, _Permanent(exc), started)
            await worker.call_hooks("after_job", context, exc)
            return
        except Exception as exc:
            await self._failed(delivery, envelope, attempt, crashes, exc, started)
            await worker.call_hooks("after_job", context, exc)
            return
        # Every value is already checked (the envelope's ids, the worker's id): skip the checks.
        record = ResultRecord.trusted(
            job_id=envelope.job_id,
            queue=envelope.queue,
            status="completed",
            attempts=attempt,
            finished_at=time.time(),
            value=stored,
            serializer=envelope.serializer,
            started_at=started,
            worker_id=worker.worker_id,
        )
        if await self._store_outcome(delivery, self.store.write_result(record, envelope.result_ttl)):
            await delivery.message.ack()
            worker.processed += 1
            await publish_event(
                self.connection,
                EventKind.COMPLETED,
                envelope.queue,
                envelope.job_id,
                worker.worker_id,
                attempt=attempt,
                started_at=started,
                duration=record.finished_at - started,
            )
        await worker.call_hooks("after_job", context, None)

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
        if delay <= NAK_DELAY_LIMIT:
            if not await self._store_outcome(delivery, self.store.write_status(status)):
                return
            await message.nak(delay=delay)
        else:
            written = self.store.publish_delayed(envelope, attempt + 1, time.time() + delay)
            if not await self._store_outcome(delivery, written):
                return
            await self._store_outcome(None, self.store.write_status(status))
            await message.ack()
        logger.debug("job {} attempt {} failed ({}); retrying in {:.3f} s", envelope.job_id, attempt, error, delay)
        await publish_event(
            self.connection,
            EventKind.RETRYING,
            envelope.queue,
            envelope.job_id,
            self.worker.worker_id,
            attempt=attempt,
            delay=delay,
            error=f"{type(error).__name__}: {error}",
        )

    async def _fail_for_good(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int, error: ErrorInfo, started: float | None
    ) -> None:
        worker = self.worker
        record = ResultRecord(
            job_id=envelope.job_id,
            queue=envelope.queue,
            status="failed",
            attempts=attempt,
            finished_at=time.time(),
            serializer=envelope.serializer,
            error=error,
            started_at=started,
            worker_id=worker.worker_id,
        )
        # Dead letter first: whoever sees the failed result can then find the job in the DLQ.
        if not await self._store_outcome(delivery, self.store.dead_letter(envelope, error, attempt, worker.worker_id)):
            return
        if not await self._store_outcome(delivery, self.store.write_result(record, envelope.result_ttl)):
            return
        await delivery.message.ack()
        worker.failed += 1
        logger.info(
            "job {} failed for good after {} attempt(s): {}: {}", envelope.job_id, attempt, error.type, error.message
        )
        await publish_event(
            self.connection,
            EventKind.FAILED,
            envelope.queue,
            envelope.job_id,
            worker.worker_id,
            attempt=attempt,
            error_type=error.type,
            error=error.message,
        )

    async def _store_outcome(self, delivery: Delivery | None, write: Awaitable[None]) -> bool:
        """Await a write; if JetStream refuses it, have the message delivered again later."""
        try:
            await write
        except Exception as exc:  # a full bucket, a lost stream: the job must come back, not vanish
            logger.error("could not store a job outcome ({}); the job will be delivered again", exc)
            await publish_system_event(
                self.connection, SystemEventKind.STORAGE_ERROR, self.worker.worker_id, error=str(exc)
            )
            if delivery is not None:
                await delivery.message.nak(delay=STORAGE_RETRY_DELAY)
            return False
        return True

    async def _reject_undecodable(self, delivery: Delivery, error: SerializationError) -> None:
        message = delivery.message
        metadata = message.metadata
        info = ErrorInfo.from_exception(error)
        write = self.store.dead_letter_raw(
            delivery.queue,
            message.subject,
            metadata.sequence.stream,
            message.data,
            dict(message.headers or {}),
            info,
        )
        if await self._store_outcome(delivery, write):
            await message.ack()
            self.worker.failed += 1
            logger.warning("undecodable message {} on queue {}: {}", metadata.sequence.stream, delivery.queue, error)
            await publish_event(
                self.connection, EventKind.FAILED, delivery.queue, None, self.worker.worker_id, error=str(error)
            )


def _header_attempt(message: Any) -> int:
    raw = (message.headers or {}).get(names.HEADER_ATTEMPT)
    if raw is None:
        return 1
    try:
        return max(1, int(raw))
    except ValueError:
        return 1
