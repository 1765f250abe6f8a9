"""Publishing events to ``naq_events`` without waiting: a core publish the stream captures.

An event over the server's max payload (a large batch, a long error) is split or cut to fit
(:meth:`EventRecord.fitted`); one that cannot fit even so is left out with a warning: events may
be lost, jobs never, and a publish the client refuses must not fail the job it reports on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from loguru import logger

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
    await _send(connection, subject, record)


async def publish_system_event(connection: Connection, kind: str, worker_id: str | None = None, **data: Any) -> None:
    """Publish a system event on ``naq.events._sys.<kind>``."""
    record = EventRecord(kind=kind, queue="_sys", at=time.time(), worker_id=worker_id, data=data)
    await _send(connection, system_event_subject(kind), record)


async def _send(connection: Connection, subject: str, record: EventRecord) -> None:
    data = record.encode()
    nc = connection.nc
    if len(data) <= nc.max_payload:  # events carry no headers: the payload is the whole measure
        await nc.publish(subject, data)
        return
    parts = record.fitted(nc.max_payload)
    if not parts:
        logger.warning(
            "a {} event of {} bytes is over the server's max payload of {} bytes and cannot be cut to fit; "
            "it is left out",
            record.kind,
            len(data),
            nc.max_payload,
        )
    for part in parts:
        await nc.publish(subject, part.encode())


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
