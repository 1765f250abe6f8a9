"""The worker's writes and reads of job state: results, statuses, dead letters, delayed retries.

Results and statuses are written by publishing to the key's subject (``$KV.<bucket>.<key>``), with
a per-message TTL for results. Each job's task awaits only its own acknowledgement, so the writes
of concurrent jobs are pipelined on the connection.

Every record is measured against the server's max payload before it is sent: a record that
carries an error has the error cut to fit, a dead-letter record of a raw message keeps as much of
the message as fits, and a completed result too large to store is a ``ResultTooLargeError``.
"""

from __future__ import annotations

import dataclasses
import time

from naq.client.runtime import Connection, kv_value, publish_acked, publish_job, read_result_record
from naq.protocol import (
    ErrorInfo,
    FailedJobRecord,
    JobEnvelope,
    JobStatusRecord,
    MessagePurpose,
    MessageTooLargeError,
    ResultRecord,
    ResultTooLargeError,
    UndecodableMessageRecord,
    names,
)
from naq.protocol.results import encode_fitted
from naq.protocol.signing import RejectReason
from naq.protocol.subjects import (
    failed_subject,
    kv_key_subject,
    undecodable_subject,
)

__all__ = ["JobStore"]


class JobStore:
    """Reads and writes of one worker; every write raises if JetStream refuses it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.settings = connection.settings

    async def _publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        # Raises when JetStream refuses the message (a full bucket), so a job's slot is never held.
        await publish_acked(self.connection, subject, data, headers)

    @property
    def max_payload(self) -> int:
        """The connected server's max payload: the most bytes one record may take."""
        return int(self.connection.nc.max_payload)

    async def write_result(self, record: ResultRecord, result_ttl: int | None) -> None:
        """Store the job's result with its TTL; ``result_ttl`` 0 stores nothing.

        A failed or cancelled record has its error cut to fit; a completed one too large to
        store raises ``ResultTooLargeError`` (no retry could store the same value).
        """
        ttl = self.settings.default_result_ttl if result_ttl is None else result_ttl
        if ttl == 0:
            return
        ttl = min(ttl, names.MAX_TTL)  # a longer TTL would make the server drop the result
        subject = kv_key_subject(names.RESULTS_BUCKET, record.job_id)
        headers = {names.HEADER_TTL: str(ttl)}
        if record.error is None:
            data = record.encode()
        else:
            limit = self.max_payload
            data = encode_fitted(lambda fitted: dataclasses.replace(record, error=fitted), record.error, limit, headers)
        try:
            await self._publish(subject, data, headers)
        except MessageTooLargeError as exc:
            if record.error is not None:
                raise
            raise ResultTooLargeError(
                f"the result of job {record.job_id} takes {exc.size} bytes stored, over the server's max payload "
                f"of {exc.limit} bytes; return large data by reference (a path, a URL, an object store key)",
                exc.size,
                exc.limit,
            ) from None

    async def read_result(self, job_id: str) -> ResultRecord | None:
        """The stored result of ``job_id``, if any."""
        return await read_result_record(self.connection, job_id)

    async def write_status(self, record: JobStatusRecord) -> None:
        """Store a job's non-terminal state."""
        await self._publish(kv_key_subject(names.JOB_STATUS_BUCKET, record.job_id), record.encode())

    async def read_status(self, job_id: str) -> JobStatusRecord | None:
        """The stored non-terminal state of ``job_id``, if any (an unreadable one counts as none)."""
        value = await kv_value(self.connection, names.JOB_STATUS_BUCKET, job_id)
        try:
            return None if value is None else JobStatusRecord.decode(value)
        except ValueError:
            return None

    async def dead_letter(
        self, envelope: JobEnvelope, error: ErrorInfo, attempts: int, worker_id: str, signature: str | None = None
    ) -> None:
        """Keep the whole job with its error (cut to fit) at ``naq.failed.<queue>.<job_id>``, with
        the ``signature`` it arrived with (a requeue carries it).

        ``MessageTooLargeError`` when the job itself leaves no room for the record around it.
        """
        failed_at = time.time()

        def build(fitted: ErrorInfo) -> FailedJobRecord:
            return FailedJobRecord(
                job=envelope,
                error=fitted,
                attempts=attempts,
                failed_at=failed_at,
                worker_id=worker_id,
                signature=signature,
            )

        data = encode_fitted(build, error, self.max_payload)
        await self._publish(failed_subject(envelope.queue, envelope.job_id), data)

    async def dead_letter_raw(
        self,
        queue: str,
        subject: str,
        stream_sequence: int,
        data: bytes,
        headers: dict[str, str],
        error: ErrorInfo,
        job_id: str | None = None,
        reason: RejectReason = RejectReason.UNDECODABLE,
    ) -> UndecodableMessageRecord:
        """Keep a message as it came, raw bytes and headers, at ``naq.failed.<queue>._raw.<seq>``:
        a message that is not a job (or whose signature was refused: ``reason``), or a job too
        large for :meth:`dead_letter`. Returns the
        record stored (truncated to fit the max payload if it had to be)."""
        record = UndecodableMessageRecord.of_message(
            queue=queue,
            subject=subject,
            stream_sequence=stream_sequence,
            data=data,
            headers=headers,
            error=error,
            failed_at=time.time(),
            limit=self.max_payload,
            job_id=job_id,
            reason=reason,
        )
        await self._publish(undecodable_subject(queue, stream_sequence), record.encode())
        return record

    async def publish_delayed(
        self, envelope: JobEnvelope, next_attempt: int, run_at: float, signature: str | None = None
    ) -> None:
        """Publish the job again for attempt ``next_attempt`` at ``run_at`` through a server-side
        schedule, carrying the ``signature`` it arrived with.

        ``JobTooLargeError`` (a ``MessageTooLargeError``) when the job with the schedule's headers is over
        the max payload.
        """
        await publish_job(
            self.connection,
            envelope,
            MessagePurpose.RETRY,
            next_attempt,
            at=run_at,
            attempt=next_attempt,
            signature=signature,
        )
