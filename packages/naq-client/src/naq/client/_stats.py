"""A queue's figures in one read: :func:`naq.client.queue_stats` (stream and consumer info and
direct gets; no consumer is created)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

from naq.client._connection import Connection
from naq.client._direct import bucket_values, message_get, subject_counts, subject_total
from naq.client._discovery import consumer_configs
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
from naq.client._workers import read_workers
from naq.protocol import ParkedJobRecord, SerializationError, names, resources, validate_queue_name
from naq.protocol.subjects import consumer_name, failed_queue_filter, queue_subject

__all__ = ["DELAYED_SCAN_LIMIT", "PARKED_SCAN_LIMIT", "QueueStats", "read_queue_stats"]

DELAYED_SCAN_LIMIT: Final = 1000
"""Most delayed messages (``naq.delayed.>``, of every queue) read to count one queue's: their
queue is in a header, so each is one request. Beyond, :attr:`QueueStats.delayed` is ``None``."""

PARKED_SCAN_LIMIT: Final = 10_000
"""Most parked-dependent keys (``naq_waiting``, of every queue) read, in batches, to count one
queue's. Beyond, :attr:`QueueStats.parked` is ``None``."""

_CONSUMER_NOT_FOUND: Final = 10014
"""JetStream error code: no consumer of that name."""

_WINDOW: Final = 64
"""Gets in flight at once while counting delayed messages."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue's figures, read at :attr:`at` (Unix seconds). Counts are jobs unless noted."""

    queue: str
    pending: int
    """Waiting on the queue, not yet handed to a worker."""
    in_flight: int
    """Handed to a worker and not yet acknowledged (running, or waiting for a short retry)."""
    redelivered: int
    """Of those in flight, how many were delivered more than once (a retry, a lost worker)."""
    delayed: int | None
    """Attempts waiting on a server-side schedule to return to the queue (retries with a long
    delay); ``None`` when more than :data:`DELAYED_SCAN_LIMIT` delayed messages exist in all."""
    parked: int | None
    """Parked until their dependencies end (``naq_waiting``); ``None`` when more than
    :data:`PARKED_SCAN_LIMIT` parked keys exist in all."""
    dead_lettered: int
    """In the dead-letter queue (failed for good, or undecodable messages)."""
    consumers: int
    """JetStream consumers reading the queue's subject (the workers share one durable)."""
    workers: int
    """Live workers serving the queue (from their heartbeats)."""
    oldest_pending_at: float | None
    """When the oldest pending job was put on the queue (``None`` if nothing is pending)."""
    at: float
    """When these figures were read."""
    delivered: int = 0
    """Deliveries the queue's consumer has made since it was created (redeliveries included);
    a monitor's delivery rate is its change between two reads."""
    acknowledged: int = 0
    """Of those deliveries, how many lie below the consumer's acknowledgement floor (every one
    up to it answered); its change between two reads is the queue's throughput."""

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds the oldest pending job has waited (``None`` if nothing is pending)."""
        return None if self.oldest_pending_at is None else max(0.0, self.at - self.oldest_pending_at)


def subject_matches(filter_subject: str, subject: str) -> bool:
    """Whether NATS subject filter ``filter_subject`` (``*``, ``>``) matches ``subject``."""
    wanted, tokens = filter_subject.split("."), subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or part not in ("*", tokens[i]):
            return False
    return len(wanted) == len(tokens)


async def _consumer_info(connection: Connection, name: str) -> dict[str, Any] | None:
    try:
        return await js_api(connection, f"CONSUMER.INFO.{names.JOBS_STREAM}.{name}")
    except JetStreamAPIError as exc:
        if exc.code in (_CONSUMER_NOT_FOUND, STREAM_NOT_FOUND):
            return None
        raise


async def _consumers(connection: Connection, subject: str) -> int:
    """Consumers of the job stream whose filter covers ``subject``."""
    count = 0
    for config in await consumer_configs(connection, names.JOBS_STREAM):
        filters = config.get("filter_subjects") or [config.get("filter_subject") or ">"]
        count += any(subject_matches(f, subject) for f in filters)
    return count


async def _delayed(connection: Connection, subject: str) -> int | None:
    """Delayed attempts whose schedule targets ``subject`` (``None``: too many to read)."""
    delayed = await subject_counts(connection, names.JOBS_STREAM, f"{names.DELAYED_PREFIX}.>")
    # naq.delayed.<job_id>.<n> are runs; naq.delayed.<job_id>.deadline a parked job's timeout.
    runs = [s for s in delayed if s.rpartition(".")[2].isdigit()]
    if len(runs) > DELAYED_SCAN_LIMIT:
        return None
    count = 0
    for start in range(0, len(runs), _WINDOW):
        window = runs[start : start + _WINDOW]
        messages = await asyncio.gather(
            *(message_get(connection, names.JOBS_STREAM, {"last_by_subj": s}) for s in window)
        )
        count += sum(1 for m in messages if m is not None and m.headers.get(names.HEADER_SCHEDULE_TARGET) == subject)
    return count


async def _parked(connection: Connection, queue: str) -> int | None:
    """Jobs of ``queue`` parked on their dependencies (``None``: too many keys to read)."""
    spec = resources.waiting_bucket(connection.settings)
    total = await subject_total(connection, spec.stream_name, f"{names.KV_SUBJECT_PREFIX}.{spec.bucket}.>")
    if total > PARKED_SCAN_LIMIT:
        return None
    parked = set()
    for message in (await bucket_values(connection, spec)).values():
        try:
            record = ParkedJobRecord.decode(message.data)
        except SerializationError:
            continue
        if record.job.queue == queue:
            parked.add(record.job.job_id)  # one key per dependency it waits on: count the job once
    return len(parked)


async def _oldest_pending(connection: Connection, subject: str, after: int) -> float | None:
    message = await message_get(connection, names.JOBS_STREAM, {"seq": after + 1, "next_by_subj": subject})
    return None if message is None else message.time


async def read_queue_stats(connection: Connection, queue: str) -> QueueStats:
    """The figures of ``queue`` (see :class:`QueueStats`)."""
    subject = queue_subject(validate_queue_name(queue))
    at = time.time()
    consumer, on_subject, delayed, parked, dead, consumers, workers = await asyncio.gather(
        _consumer_info(connection, consumer_name(queue)),
        subject_counts(connection, names.JOBS_STREAM, subject),
        _delayed(connection, subject),
        _parked(connection, queue),
        subject_total(connection, names.FAILED_JOBS_STREAM, failed_queue_filter(queue)),
        _consumers(connection, subject),
        read_workers(connection),
    )
    if consumer is not None:
        pending = int(consumer.get("num_pending") or 0)
        in_flight = int(consumer.get("num_ack_pending") or 0)
        redelivered = int(consumer.get("num_redelivered") or 0)
        delivered = int((consumer.get("delivered") or {}).get("stream_seq") or 0)
        deliveries = int((consumer.get("delivered") or {}).get("consumer_seq") or 0)
        acknowledged = int((consumer.get("ack_floor") or {}).get("consumer_seq") or 0)
    else:  # no worker ever served it: everything on its subject is pending
        pending, in_flight, redelivered, delivered = on_subject.get(subject, 0), 0, 0, 0
        deliveries = acknowledged = 0
    oldest = await _oldest_pending(connection, subject, delivered) if pending else None
    return QueueStats(
        queue=queue,
        pending=pending,
        in_flight=in_flight,
        redelivered=redelivered,
        delayed=delayed,
        parked=parked,
        dead_lettered=dead,
        consumers=consumers,
        workers=sum(1 for worker in workers if queue in worker.queues),
        oldest_pending_at=oldest,
        at=at,
        delivered=deliveries,
        acknowledged=acknowledged,
    )
