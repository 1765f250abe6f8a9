"""How a delivered job ends: completed (its result stored), retried, failed for good, cancelled, or
not run at all (undecodable, or its signature refused); each with its result record, dead letter,
ack and event.

Terminal state is written before the ack, and a failed job is dead-lettered before its result is
written, so whoever sees the failed result finds the job in the DLQ. A write that JetStream
refuses has the message delivered again later, except a write too large for the server's max
payload, which no retry can fix: a result too large fails the job for good at once
(``ResultTooLargeError``), errors are cut to fit their records and events, a dead-letter record
that cannot hold the job keeps its raw bytes cut to fit, a retry that cannot be scheduled waits on
a delayed nak, and anything else too large ends the job (or drops the message) with one ERROR
line. Never a storage retry in a loop: while writes are refused the worker pauses its fetches,
longer with each refusal in a row (bounded), and the job is delivered again after the pause.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable
from typing import Final, Protocol, runtime_checkable

import nats.errors
from loguru import logger

from naq.client.runtime import publish_event, publish_system_event
from naq.protocol import (
    ErrorInfo,
    EventKind,
    JobEnvelope,
    JobRejectedError,
    JobStatus,
    JobStatusRecord,
    JobTimeoutError,
    MessageTooLargeError,
    ResultRecord,
    ResultTooLargeError,
    SerializationError,
    SystemEventKind,
    UndecodableMessageRecord,
    names,
)
from naq.protocol.refs import exception_ref
from naq.protocol.retry import retry_delay, should_retry
from naq.protocol.signing import RejectReason, SigningKeys, explain
from naq.protocol.sizes import truncate_text
from naq.worker._backoff import STORAGE_RETRY_DELAY, StorageBackoff
from naq.worker._completions import CompletionEvents
from naq.worker._delivery import Delivery, announce_started
from naq.worker._gating import DependencyGate
from naq.worker._store import JobStore

__all__ = [
    "EVENT_ERROR_BYTES",
    "MAX_RETRY_DELAY",
    "NAK_DELAY_LIMIT",
    "STORAGE_RETRY_DELAY",
    "OutcomeHost",
    "Outcomes",
    "Permanent",
]

NAK_DELAY_LIMIT: Final = 5.0
"""Longest retry delay served by a delayed nak; longer ones go through a server-side schedule, so
waiting retries do not hold the consumer's ack-pending capacity."""

MAX_RETRY_DELAY: Final = 1e10
"""Longest retry delay a job is retried after (about 300 years); its schedule's time must be a
date (before year 9999) the server can read. A longer delay fails the job for good instead."""

EVENT_ERROR_BYTES: Final = 4096
"""Most bytes of error text an event or a log line carries; the whole error (cut only to fit the
max payload) is in the result and dead-letter records."""


class Permanent(Exception):
    """A failure no retry can fix (bad input); wraps the error to report."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@runtime_checkable
class OutcomeHost(Protocol):
    """What the outcomes read of the worker: its id (in records and events), its counters and its
    batched ``completed`` events."""

    worker_id: str
    completions: CompletionEvents

    def counted(self, queue: str, *, failed: bool) -> None:
        """Count one job of ``queue`` that completed, or failed for good when ``failed``."""
        ...


def _error_info(error: BaseException) -> ErrorInfo:
    return ErrorInfo.from_exception(error.error if isinstance(error, Permanent) else error)


def _schedulable_delay(envelope: JobEnvelope, attempt: int) -> float | None:
    """The job's retry delay after ``attempt``, or ``None`` if it is beyond :data:`MAX_RETRY_DELAY`
    (or beyond a float)."""
    try:
        delay = retry_delay(envelope, attempt)
    except OverflowError:  # a float delay times a huge attempt number
        return None
    return delay if delay <= MAX_RETRY_DELAY else None


def _too_large(error: BaseException) -> bool:
    """Whether a write failed for its size, which no retry can change (naq's check, or nats-py's
    own for the publishes that do not go through it)."""
    return isinstance(error, MessageTooLargeError | nats.errors.MaxPayloadError)


def _brief(text: str) -> str:
    """``text`` cut for an event or a log line."""
    return truncate_text(text, EVENT_ERROR_BYTES)


class Outcomes:
    """Records how one worker's jobs end: results and statuses through ``store``, releases of
    their dependents through ``gate``, counts and events through ``host``."""

    def __init__(
        self, host: OutcomeHost, store: JobStore, gate: DependencyGate, backoff: StorageBackoff | None = None
    ) -> None:
        self.host = host
        self.store = store
        self.gate = gate
        self.backoff = StorageBackoff() if backoff is None else backoff
        """Paces the worker while its writes are refused (see :mod:`naq.worker._backoff`)."""
        self.connection = store.connection
        self._note_ended = gate.waiting.ended  # on every completion: one call, no I/O

    async def completed(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int, crashes: int, value: object, started: float
    ) -> BaseException | None:
        """Store the result of a job that returned ``value`` (in its serializer's form) and ack it:
        the hot path, one result write and one ack. Returns the error the job ends with after all
        (its value is too large to store: it fails for good), for the ``after_job`` hooks."""
        host = self.host
        record = ResultRecord.completed(envelope, value, attempts=attempt, started_at=started, worker_id=host.worker_id)
        try:
            await self.store.write_result(record, envelope.result_ttl)
        except ResultTooLargeError as exc:  # the same value every time: fail for good, no retry
            await self.failed(delivery, envelope, attempt, crashes, Permanent(exc), started)
            return exc
        except Exception as exc:  # a full bucket, a lost stream: the job must come back, not vanish
            await self.storage_failed(delivery, exc)
            return None
        self.backoff.succeeded()
        delivery.settling = True
        dependents = self._note_ended(envelope.job_id, "completed")
        if dependents:  # rare: release them before the ack, so a crash cannot lose the release
            released = self.gate.release(envelope.job_id, dependents, "completed")
            if not await self.store_write(delivery, released):
                return None
        await delivery.message.ack()
        host.counted(envelope.queue, failed=False)
        host.completions.add(envelope.queue, envelope.job_id, attempt, started, record.finished_at - started)
        return None

    async def failed(
        self,
        delivery: Delivery,
        envelope: JobEnvelope,
        attempt: int,
        crashes: int,
        error: BaseException,
        started: float,
    ) -> None:
        """Attempt ``attempt`` raised ``error``: retry the job (a delayed nak, or a server-side
        schedule for a longer delay) or, if its policy says no, fail it for good."""
        if isinstance(error, JobTimeoutError) and error.thread_running:
            delivery.slot_kept = True
        # Running, then retrying or failed.
        await announce_started(self.connection, self.host.worker_id, delivery, envelope.queue, envelope.job_id, started)
        retryable = not isinstance(error, Permanent)
        if not (retryable and should_retry(envelope, error, attempt)):
            await self.failed_for_good(delivery, envelope, attempt, _error_info(error), started)
            return
        delay = _schedulable_delay(envelope, attempt)
        if delay is None:
            # A delay no schedule can reach (a retry_delay of 1e300 s; a huge attempt number from a
            # Naq-Attempt header overflowing the float): scheduling it raised, which was handled as
            # a storage failure, so the job came back for ever (and paused fetching). It fails now.
            info = _error_info(error)
            reason = f"not retried: its retry delay cannot be scheduled (over {MAX_RETRY_DELAY:.0f} s)"
            info = dataclasses.replace(info, message=f"{info.message} ({reason})")
            await self.failed_for_good(delivery, envelope, attempt, info, started)
            return
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
                signature = (message.headers or {}).get(names.HEADER_SIGNATURE)  # carried, never made
                await self.store.publish_delayed(envelope, attempt + 1, time.time() + delay, signature)
            except MessageTooLargeError:
                # The job with the schedule's headers does not fit in a message: it waits on a
                # delayed nak instead, holding one unit of ack-pending capacity meanwhile.
                nak = True
            except Exception as exc:
                await self.storage_failed(delivery, exc)
                return
        if nak:
            if not await self.store_write(delivery, self.store.write_status(status)):
                return
            await message.nak(delay=delay)
        else:
            await self.store_write(None, self.store.write_status(status))
            await message.ack()
        text = _brief(f"{type(error).__name__}: {error}")
        logger.debug("job {} attempt {} failed ({}); retrying in {:.3f} s", envelope.job_id, attempt, text, delay)
        await publish_event(
            self.connection,
            EventKind.RETRYING,
            envelope.queue,
            envelope.job_id,
            self.host.worker_id,
            attempt=attempt,
            delay=delay,
            error=text,
        )

    async def failed_for_good(
        self, delivery: Delivery, envelope: JobEnvelope, attempt: int, error: ErrorInfo, started: float | None
    ) -> None:
        """End the job failed: dead letter, failed result, release of its dependents, ack, event.

        ``attempt`` 0 with ``started`` ``None``: it never ran (a dependency failed)."""
        host = self.host
        delivery.settling = True
        record = ResultRecord.failed(envelope, error, attempts=attempt, started_at=started, worker_id=host.worker_id)
        # Dead letter first: whoever sees the failed result can then find the job in the DLQ.
        if not await self._dead_letter(delivery, envelope, error, attempt):
            return
        if not await self.store_write(delivery, self.store.write_result(record, envelope.result_ttl)):
            return
        if not await self.store_write(delivery, self.gate.release_dependents(envelope.job_id, "failed")):
            return
        await delivery.message.ack()
        host.counted(envelope.queue, failed=True)
        text = _brief(error.message)
        logger.info("job {} failed for good after {} attempt(s): {}: {}", envelope.job_id, attempt, error.type, text)
        await publish_event(
            self.connection,
            EventKind.FAILED,
            envelope.queue,
            envelope.job_id,
            host.worker_id,
            attempt=attempt,
            error_type=error.type,
            error=text,
        )

    async def cancelled(self, delivery: Delivery, envelope: JobEnvelope, attempt: int, started: float | None) -> None:
        """End the job cancelled (queued, parked, or interrupted while it ran): cancelled result,
        its parking removed, its dependents released, ack, event."""
        host = self.host
        record = ResultRecord.cancelled(
            envelope.job_id,
            envelope.queue,
            serializer=envelope.serializer,
            attempts=attempt,
            started_at=started,
            worker_id=host.worker_id,
        )
        if not await self.store_write(delivery, self.store.write_result(record, envelope.result_ttl)):
            return
        delivery.settling = True
        await self.gate.unpark(envelope)
        if not await self.store_write(delivery, self.gate.release_dependents(envelope.job_id, "cancelled")):
            return
        await delivery.message.ack()
        logger.info("job {} cancelled", envelope.job_id)
        await publish_event(self.connection, EventKind.CANCELLED, envelope.queue, envelope.job_id, host.worker_id)

    async def undecodable(self, delivery: Delivery, error: SerializationError) -> None:
        """The message is not a job: keep its raw bytes in the DLQ, ack it, count it failed."""
        await self._reject_raw(delivery, ErrorInfo.from_exception(error), RejectReason.UNDECODABLE)

    def signature_refused(self, delivery: Delivery, keys: SigningKeys) -> Awaitable[None] | None:
        """``None`` when the message's ``Naq-Signature`` verifies its data under ``keys``; else
        the rejection to await: the raw message to the DLQ with the reason, an ack, a failed
        event without a job id. Nothing of what the message claims (its job id above all) is
        read or written: it was not decoded."""
        message = delivery.message
        header = (message.headers or {}).get(names.HEADER_SIGNATURE)
        reason = keys.check(message.data, header)
        if reason is None:
            return None
        text = explain(reason, header)
        return self._reject_raw(delivery, ErrorInfo(type=exception_ref(JobRejectedError), message=text), reason)

    async def _reject_raw(self, delivery: Delivery, error: ErrorInfo, reason: RejectReason) -> None:
        """Keep a message that is not run as raw bytes in the DLQ with ``reason``, ack it, count
        it failed, and publish a failed event (with no job id: none is trusted)."""
        message = delivery.message
        sequence = message.metadata.sequence.stream
        if await self.store_write(delivery, self._dead_letter_raw(delivery, error, reason=reason)):
            await message.ack()
            self.host.counted(delivery.queue, failed=True)
            text = _brief(error.message)
            size = len(message.data)
            what = "undecodable" if reason is RejectReason.UNDECODABLE else f"rejected ({reason})"
            logger.warning("{} message {} ({} bytes) on queue {}: {}", what, sequence, size, delivery.queue, text)
            worker_id = self.host.worker_id
            await publish_event(
                self.connection, EventKind.FAILED, delivery.queue, None, worker_id, error=text, reason=str(reason)
            )

    # --- storage -----------------------------------------------------------------------------------

    async def store_write(self, delivery: Delivery | None, write: Awaitable[object]) -> bool:
        """Await a write; if JetStream refuses it, have the message delivered again later (and
        return False)."""
        try:
            await write
        except Exception as exc:  # a full bucket, a lost stream: the job must come back, not vanish
            await self.storage_failed(delivery, exc)
            return False
        self.backoff.succeeded()
        return True

    async def storage_failed(self, delivery: Delivery | None, error: Exception) -> None:
        """A write of the job's state failed: nak the message for a later delivery and pause fetching
        (:class:`StorageBackoff`: a storage error event and one ERROR line per step of the pause),
        or end the job if the write can never fit."""
        if _too_large(error):
            await self._unstorable(delivery, error)
            return
        backoff = self.backoff
        delay, new_step = backoff.failed()
        if delivery is not None:  # each job's own redeliveries grow apart too
            deliveries = delivery.message.metadata.num_delivered or 1
            delay = max(delay, backoff.step_delay(deliveries))
        if new_step:  # once per step of the pause, not once per job
            text = _brief(f"{type(error).__name__}: {error}")
            logger.error(
                "could not store a job outcome ({}); {} write(s) refused in a row; fetching paused for {:.1f} s, "
                "the job will be delivered again",
                text,
                backoff.refused,
                delay,
            )
            await publish_system_event(
                self.connection,
                SystemEventKind.STORAGE_ERROR,
                self.host.worker_id,
                error=text,
                refused=backoff.refused,
                paused=delay,
            )
        else:
            logger.debug("could not store a job outcome ({}); delivered again in {:.1f} s", error, delay)
        if delivery is not None:
            await self._explain_redelivery(delivery)
            await delivery.message.nak(delay=delay)

    async def _explain_redelivery(self, delivery: Delivery) -> None:
        """Record that this delivery comes back for a refused write, not a crash: without it the
        redelivery would count against the job's crash limit (``NAQ_MAX_CRASH_REDELIVERIES``) and a
        few refused writes would dead-letter it as a lost worker. Best effort: the status bucket
        may be refusing writes too."""
        envelope, message = delivery.envelope, delivery.message
        if envelope is None:
            return
        sequence = message.metadata.sequence.stream
        try:
            before = await self.store.read_status(envelope.job_id)
            crashes = before.crashes if before is not None and before.stream_sequence == sequence else 0
            await self.store.write_status(
                JobStatusRecord(
                    job_id=envelope.job_id,
                    queue=envelope.queue,
                    status=JobStatus.RETRYING,
                    attempts=max(delivery.attempt - 1, 0),
                    updated_at=time.time(),
                    crashes=crashes,
                    stream_sequence=sequence,
                    deliveries=message.metadata.num_delivered,
                )
            )
        except Exception as exc:
            logger.debug("could not record why job {} comes back: {}", envelope.job_id, exc)

    async def _unstorable(self, delivery: Delivery | None, error: Exception) -> None:
        """A write is too large for any retry to store it: end the job, never deliver it again."""
        if delivery is not None and delivery.envelope is not None and not delivery.settling:
            # Nothing of the job's end is stored yet: it fails for good with this error.
            info = ErrorInfo.from_exception(error)
            await self.failed_for_good(delivery, delivery.envelope, delivery.attempt, info, started=None)
            return
        ended = "; the message is dropped" if delivery is not None else ""
        logger.error("could not store a job outcome, too large for any retry ({}){}", _brief(str(error)), ended)
        await publish_system_event(
            self.connection, SystemEventKind.STORAGE_ERROR, self.host.worker_id, error=_brief(str(error))
        )
        if delivery is not None:
            await delivery.message.ack()

    async def _dead_letter(self, delivery: Delivery, envelope: JobEnvelope, error: ErrorInfo, attempt: int) -> bool:
        """Put the job in the dead-letter queue; ``False`` if that failed (and was dealt with)."""
        try:
            signature = (delivery.message.headers or {}).get(names.HEADER_SIGNATURE)
            await self.store.dead_letter(envelope, error, attempt, self.host.worker_id, signature)
        except MessageTooLargeError:
            # The job nearly fills a message by itself, so no record holds it and its error:
            # keep its raw bytes instead, cut to fit, with the size and digest of the whole.
            return await self.store_write(delivery, self._dead_letter_raw(delivery, error, envelope.job_id))
        except Exception as exc:
            await self.storage_failed(delivery, exc)
            return False
        return True

    def _dead_letter_raw(
        self,
        delivery: Delivery,
        error: ErrorInfo,
        job_id: str | None = None,
        reason: RejectReason = RejectReason.UNDECODABLE,
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
            reason,
        )
