"""Publishing events to ``naq_events`` without waiting: a core publish the stream captures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from naq.client._connection import Connection
from naq.protocol import EventRecord, JobEnvelope
from naq.protocol.subjects import event_subject, system_event_subject

__all__ = ["announce_jobs", "publish_event", "publish_system_event"]

_subjects: dict[tuple[str, str], str] = {}


async def publish_event(
    connection: Connection,
    kind: str,
    queue: str,
    job_id: str | None = None,
    worker_id: str | None = None,
    **data: Any,
) -> None:
    """Publish a job event; buffered by the client, no round trip (events may be lost, jobs never).

    Called once or twice per job, so it skips the record's checks: ``queue`` and ``kind`` are
    checked once, when their subject is first built, and ids come from checked records.
    """
    subject = _subjects.get((queue, kind))
    if subject is None:
        subject = _subjects[(queue, kind)] = event_subject(queue, kind)
    record = EventRecord.trusted(
        kind=str(kind), queue=queue, at=time.time(), job_id=job_id, worker_id=worker_id, data=data
    )
    await connection.nc.publish(subject, record.encode())


async def publish_system_event(connection: Connection, kind: str, worker_id: str | None = None, **data: Any) -> None:
    """Publish a system event on ``naq.events._sys.<kind>``."""
    record = EventRecord(kind=kind, queue="_sys", at=time.time(), worker_id=worker_id, data=data)
    await connection.nc.publish(system_event_subject(kind), record.encode())


async def announce_jobs(connection: Connection, kind: str, envelopes: Sequence[JobEnvelope], **data: Any) -> None:
    """One event for one job, or one per queue carrying the ids (``data.job_ids``) for many."""
    if len(envelopes) == 1:
        [envelope] = envelopes
        await publish_event(connection, kind, envelope.queue, envelope.job_id, function=envelope.function, **data)
        return
    by_queue: dict[str, list[str]] = {}
    for envelope in envelopes:
        by_queue.setdefault(envelope.queue, []).append(envelope.job_id)
    for queue, job_ids in by_queue.items():
        await publish_event(connection, kind, queue, None, job_ids=job_ids, count=len(job_ids), **data)
