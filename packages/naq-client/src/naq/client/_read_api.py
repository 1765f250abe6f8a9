"""The read API: what a monitor, a dashboard or an alert is built on.

One-shot reads (:func:`queues`, :func:`queue_stats`, :func:`job_info`, :func:`failed_jobs`, and
``list_workers`` / ``Job.status``) create no JetStream consumer: they read stream and consumer
info and stored messages directly. Iterators (:func:`watch_workers`, :func:`watch_schedules`,
:func:`events`) hold one consumer each while open and delete it when closed: use them in
``async with``, or call ``aclose()``. Each takes ``nats_url=`` as the rest of the module-level
API does (the other settings come from the ``NAQ_*`` environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime

import nats.errors

from naq.client._api import Url
from naq.client._connection import get_connection
from naq.client._discovery import list_queues
from naq.client._errors import naq_error, public
from naq.client._event_stream import EventStream
from naq.client._failed import FailedEntry, iter_failed
from naq.client._job_info import JobInfo, read_job_info
from naq.client._queue import resolve_settings
from naq.client._stats import QueueStats, read_queue_stats
from naq.client._sync import run_sync
from naq.client._watchers import ScheduleWatch, WorkerWatch
from naq.protocol import validate_job_id, validate_queue_name

__all__ = [
    "events",
    "failed_jobs",
    "failed_jobs_sync",
    "job_info",
    "job_info_sync",
    "queue_stats",
    "queue_stats_sync",
    "queues",
    "queues_sync",
    "watch_schedules",
    "watch_workers",
]


@public
async def queues(nats_url: Url = None) -> list[str]:
    """The names of the queues that exist, sorted: those with jobs on them, a worker consumer,
    events in the last 24 h, or a live worker serving them (see :mod:`naq.client._discovery`)."""
    return await list_queues(await get_connection(resolve_settings(nats_url)))


@public
async def queue_stats(queue: str | None = None, nats_url: Url = None) -> QueueStats:
    """The figures of ``queue`` (default: ``NAQ_DEFAULT_QUEUE``): pending, in flight, redelivered,
    delayed, parked, dead-lettered, consumers, workers and the oldest pending job's age."""
    settings = resolve_settings(nats_url)
    name = validate_queue_name(queue if queue is not None else settings.default_queue)
    return await read_queue_stats(await get_connection(settings), name)


@public
async def job_info(job_id: str, nats_url: Url = None) -> JobInfo:
    """Everything naq keeps about ``job_id``: status, function, attempts, times, result or error
    with traceback, dependencies and their states, and the stored job (with its arguments) where
    one is kept. ``JobNotFoundError`` if naq finds no trace of it."""
    validate_job_id(job_id)
    return await read_job_info(await get_connection(resolve_settings(nats_url)), job_id)


def failed_jobs(queue: str | None = None, nats_url: Url = None) -> AsyncIterator[FailedEntry]:
    """Every dead-letter record (of ``queue``, when given), oldest first, without consuming any.

    Each :class:`FailedEntry` holds the whole job (``entry.record.job``), its error with the
    worker's traceback (``entry.record.error``), attempts and time; an undecodable message's
    entry (``entry.raw``) holds its raw bytes instead. No consumer is created.
    """
    if queue is not None:
        validate_queue_name(queue)  # at the call, not at the first iteration
    settings = resolve_settings(nats_url)

    async def entries() -> AsyncIterator[FailedEntry]:
        try:
            async for entry in iter_failed(await get_connection(settings), queue):
                yield entry
        except nats.errors.Error as exc:  # the public boundary, for an iterator
            raise naq_error(exc) from exc

    return entries()


def watch_workers(nats_url: Url = None) -> WorkerWatch:
    """A live view of the worker registry: an async iterator of :class:`WorkerChange` (a worker
    appeared, sent a new heartbeat, or disappeared: deregistered or expired), starting with the
    workers registered now (``change.initial``). One consumer while open; close it."""
    return WorkerWatch(resolve_settings(nats_url))


def watch_schedules(nats_url: Url = None) -> ScheduleWatch:
    """A live view of the schedules: an async iterator of :class:`ScheduleChange` (created,
    changed, e.g. paused, or removed), starting with the schedules there now. One consumer while
    open; close it."""
    return ScheduleWatch(resolve_settings(nats_url))


def events(
    queue: str | None = None,
    kinds: str | Iterable[str] | None = None,
    *,
    since: datetime | float | None = None,
    nats_url: Url = None,
) -> EventStream:
    """Events as they are published, filtered by the server: of ``queue`` (``None``: every queue
    and the system events; ``"_sys"``: system events only), of ``kinds`` (an ``EventKind`` /
    ``SystemEventKind`` value or several; ``None``: all).

    Starts at new events; ``since`` (a datetime, naive = UTC, or a Unix time) replays the events
    kept from then on (at most the last 24 h) first. One consumer while open; close it.
    """
    return EventStream(resolve_settings(nats_url), queue, kinds, since)


def queues_sync(nats_url: Url = None) -> list[str]:
    """Blocking :func:`queues`."""
    return run_sync(queues(nats_url))


def queue_stats_sync(queue: str | None = None, nats_url: Url = None) -> QueueStats:
    """Blocking :func:`queue_stats`."""
    return run_sync(queue_stats(queue, nats_url))


def job_info_sync(job_id: str, nats_url: Url = None) -> JobInfo:
    """Blocking :func:`job_info`."""
    return run_sync(job_info(job_id, nats_url))


def failed_jobs_sync(queue: str | None = None, nats_url: Url = None) -> list[FailedEntry]:
    """Blocking :func:`failed_jobs`, as a list."""

    async def collect() -> list[FailedEntry]:
        return [entry async for entry in failed_jobs(queue, nats_url)]

    if queue is not None:
        validate_queue_name(queue)
    return run_sync(collect())
