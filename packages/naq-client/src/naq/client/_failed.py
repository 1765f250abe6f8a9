"""The dead-letter queue (``naq_failed_jobs``): list, show, requeue and delete failed jobs.

Records are listed without consuming them (and without a consumer): batched direct gets read the
last message of every subject of the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from naq.client._connection import Connection
from naq.client._direct import last_messages
from naq.client._events import publish_event
from naq.client._jsapi import js_api
from naq.client._publish import publish_job
from naq.client._resources import ensure_stream, kv
from naq.protocol import (
    EventKind,
    FailedJobRecord,
    JobNotFoundError,
    MessagePurpose,
    SerializationError,
    UndecodableMessageRecord,
    names,
    resources,
    validate_queue_name,
)
from naq.protocol.subjects import failed_queue_filter

__all__ = [
    "FailedEntry",
    "delete_failed",
    "describe",
    "find_failed",
    "iter_failed",
    "list_failed",
    "render",
    "requeue_failed",
]

_PAGE: Final = 100_000


@dataclass(frozen=True, slots=True)
class FailedEntry:
    """One dead-letter record: a failed job, or a message that was not a job (``raw``)."""

    id: str
    """The job id, or ``_raw.<sequence>`` for an undecodable message."""
    queue: str
    subject: str
    sequence: int
    record: FailedJobRecord | UndecodableMessageRecord

    @property
    def raw(self) -> bool:
        """True for an undecodable message (it can be shown and deleted, not requeued)."""
        return isinstance(self.record, UndecodableMessageRecord)


def _entry_id(subject: str) -> tuple[str, str]:
    # naq.failed.<queue>.<job_id>  or  naq.failed.<queue>._raw.<seq>
    parts = subject.split(".")
    return parts[2], ".".join(parts[3:])


def _entry(subject: str, sequence: int, data: bytes) -> FailedEntry | None:
    queue, entry_id = _entry_id(subject)
    record: FailedJobRecord | UndecodableMessageRecord
    try:
        record = UndecodableMessageRecord.decode(data) if entry_id.startswith("_raw.") else FailedJobRecord.decode(data)
    except SerializationError:
        return None
    return FailedEntry(entry_id, queue, subject, sequence, record)


async def iter_failed(connection: Connection, queue: str | None = None) -> AsyncIterator[FailedEntry]:
    """Every dead-letter record, of one queue or of all, oldest first; nothing is consumed.

    Read in batched direct gets of each subject's record (no consumer); records that cannot be
    decoded are left out.
    """
    if queue is not None:
        validate_queue_name(queue)
    await ensure_stream(connection, resources.failed_jobs_stream(connection.settings))
    for message in await last_messages(connection, names.FAILED_JOBS_STREAM, failed_queue_filter(queue)):
        entry = _entry(message.subject, message.sequence, message.data)
        if entry is not None:
            yield entry


async def list_failed(connection: Connection, queue: str | None = None) -> list[FailedEntry]:
    """Every dead-letter record, of one queue or of all, by subject."""
    entries = [entry async for entry in iter_failed(connection, queue)]
    return sorted(entries, key=lambda entry: entry.subject)


async def find_failed(connection: Connection, entry_id: str, queue: str | None = None) -> FailedEntry:
    """The dead-letter record ``entry_id``; ``JobNotFoundError`` if there is none."""
    for entry in await list_failed(connection, queue):
        if entry.id == entry_id:
            return entry
    raise JobNotFoundError(f"no failed job {entry_id!r} in the dead-letter queue")


async def _purge_entry(connection: Connection, entry: FailedEntry) -> None:
    # Up to the entry's own sequence only: a newer failure of the same job (recorded after the
    # entry was listed) stays in the dead-letter queue.
    request = {"filter": entry.subject, "seq": entry.sequence + 1}
    await js_api(connection, f"STREAM.PURGE.{names.FAILED_JOBS_STREAM}", request)


async def requeue_failed(connection: Connection, entry: FailedEntry) -> str:
    """Put a failed job back on its queue as it was (fresh attempts); returns its job id.

    Its old result and status are removed first, so waiting on the job sees the new run's result;
    the publish carries a derived message id, so it is not dropped as a duplicate of the original.
    """
    if not isinstance(entry.record, FailedJobRecord):
        raise ValueError(f"{entry.id} is an undecodable message, not a job: it cannot be requeued")
    job = entry.record.job
    for bucket_name in (names.RESULTS_BUCKET, names.JOB_STATUS_BUCKET):
        bucket = await kv(connection, bucket_name)
        await bucket.purge(job.job_id)
    # The signature the job arrived with (None: unsigned), never a new one: see naq.client._publish.
    await publish_job(connection, job, MessagePurpose.REQUEUE, entry.sequence, signature=entry.record.signature)
    await _purge_entry(connection, entry)
    await publish_event(connection, EventKind.REQUEUED, job.queue, job.job_id)
    return job.job_id


async def delete_failed(connection: Connection, entry: FailedEntry) -> None:
    """Remove a record from the dead-letter queue."""
    await _purge_entry(connection, entry)


def describe(entry: FailedEntry) -> dict[str, object]:
    """A JSON-friendly summary of a record, for the command line."""
    record = entry.record
    summary: dict[str, object] = {"id": entry.id, "queue": entry.queue, "error": record.error.to_dict()}
    if isinstance(record, FailedJobRecord):
        summary.update(function=record.job.function, attempts=record.attempts, failed_at=record.failed_at)
    else:
        summary.update(subject=record.subject, reason=str(record.reason), headers=record.headers)
        summary.update(failed_at=record.failed_at)
        summary.update(original_size=record.original_size, sha256=record.sha256, truncated=record.truncated)
        if record.job_id is not None:
            summary.update(job_id=record.job_id)
    return json.loads(json.dumps(summary))


def _field_text(key: str, value: object) -> str:
    if key == "failed_at" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def render(entry: FailedEntry) -> str:
    """A record for people to read: one ``field: value`` line each, then the traceback."""
    summary = describe(entry)
    error = summary.pop("error")
    assert isinstance(error, dict)
    lines = []
    for key, value in summary.items():
        lines.append(f"{key.replace('_', ' ') + ':':<11}{_field_text(key, value)}")
    lines.append(f"{'error:':<11}{error.get('type')}: {error.get('message')}")
    traceback = str(error.get("traceback") or "").rstrip()
    if traceback:
        lines += ["", traceback]
    return "\n".join(lines)
