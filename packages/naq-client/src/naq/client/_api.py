"""Module-level functions with the original naq's names, and their ``_sync`` twins.

Each takes ``queue_name=`` and/or ``nats_url=`` as the original did; everything else is passed to
the :class:`Queue` method of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client as NATS

from naq.client._backend import backend_for
from naq.client._connection import close_connections, get_connection
from naq.client._errors import public
from naq.client._job import Job
from naq.client._queue import Queue, resolve_settings
from naq.client._results import require_result, result_value
from naq.client._schedules import (
    ScheduledJob,
    cancel_schedule,
    list_schedules,
    modify_schedule,
    pause_schedule,
    resume_schedule,
    run_schedule_now,
)
from naq.client._sync import run_sync
from naq.client._sync_job import SyncJob, SyncScheduledJob
from naq.client._workers import read_workers
from naq.protocol import ConfigurationError, ScheduleRecord, WorkerHeartbeat

__all__ = [
    "cancel_job",
    "cancel_job_sync",
    "cancel_scheduled_job",
    "cancel_scheduled_job_sync",
    "close",
    "connect",
    "connect_sync",
    "disconnect",
    "disconnect_sync",
    "enqueue",
    "enqueue_at",
    "enqueue_at_sync",
    "enqueue_in",
    "enqueue_in_sync",
    "enqueue_many",
    "enqueue_many_sync",
    "enqueue_sync",
    "fetch_job_result",
    "fetch_job_result_sync",
    "list_scheduled_jobs",
    "list_scheduled_jobs_sync",
    "list_workers",
    "list_workers_sync",
    "modify_scheduled_job",
    "modify_scheduled_job_sync",
    "pause_scheduled_job",
    "pause_scheduled_job_sync",
    "purge_queue",
    "purge_queue_sync",
    "resume_scheduled_job",
    "resume_scheduled_job_sync",
    "run_scheduled_job_now",
    "run_scheduled_job_now_sync",
    "schedule",
    "schedule_sync",
]

Url = str | Sequence[str] | None


@public
async def enqueue(func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any) -> Job:
    """Enqueue ``func(*args, **kwargs)`` on ``queue_name``; options as :meth:`Queue.enqueue`."""
    return await Queue(queue_name, nats_url).enqueue(func, *args, **kwargs)


@public
async def enqueue_many(
    func: Any, calls: Any, /, *, queue_name: str | None = None, nats_url: Url = None, **options: Any
) -> list[Job]:
    """Enqueue one job per entry of ``calls``, pipelined; options as :meth:`Queue.enqueue_many`."""
    return await Queue(queue_name, nats_url).enqueue_many(func, calls, **options)


@public
async def purge_queue(queue_name: str | None = None, nats_url: Url = None) -> int:
    """Remove every job waiting on ``queue_name``; returns how many."""
    return await Queue(queue_name, nats_url).purge()


@public
async def fetch_job_result(job_id: str, nats_url: Url = None, *, allow_pickle: bool | None = None) -> Any:
    """The result of a finished job, without waiting.

    Raises ``JobNotFoundError`` if there is none (unknown, still running, or expired) and
    ``JobExecutionError`` if the job failed. A value stored as pickle is unpickled only if
    ``allow_pickle`` (default: ``NAQ_ALLOW_PICKLE``); otherwise ``PickleNotAllowedError``.
    """
    settings = resolve_settings(nats_url)
    record = require_result(await backend_for(settings).stored_result(job_id), job_id)
    return result_value(record, settings.allow_pickle if allow_pickle is None else allow_pickle)


@public
async def cancel_job(job_id: str, nats_url: Url = None) -> bool:
    """Cancel a job wherever it is; True if it was queued, waiting or running, False if it had
    already ended or is unknown.

    A queued or waiting job never runs and ends cancelled (its dependents fail with
    ``DependencyFailedError``). A running async job is interrupted at its next ``await``; a running
    sync job cannot be interrupted (threads cannot be), so it sees ``ctx.cancelled`` turn true and
    should return early. Either way its result says cancelled: ``job.result()`` raises
    ``JobCancelledError``.
    """
    return await backend_for(resolve_settings(nats_url)).cancel(job_id)


@public
async def list_workers(nats_url: Url = None) -> list[WorkerHeartbeat]:
    """The latest heartbeat of every live worker."""
    return await read_workers(await get_connection(resolve_settings(nats_url)))


@public
async def enqueue_at(
    when: Any, func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> Job:
    """Run ``func(*args, **kwargs)`` once at ``when`` (naive datetime = UTC); see :meth:`Queue.enqueue_at`."""
    return await Queue(queue_name, nats_url).enqueue_at(when, func, *args, **kwargs)


@public
async def enqueue_in(
    delay: Any, func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> Job:
    """Run ``func(*args, **kwargs)`` once after ``delay``; see :meth:`Queue.enqueue_in`."""
    return await Queue(queue_name, nats_url).enqueue_in(delay, func, *args, **kwargs)


@public
async def schedule(
    func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> ScheduledJob:
    """Run ``func`` on ``cron=`` or every ``interval=``; see :meth:`Queue.schedule`."""
    return await Queue(queue_name, nats_url).schedule(func, *args, **kwargs)


@public
async def cancel_scheduled_job(job_id: str, nats_url: Url = None) -> bool:
    """Delete a schedule (or a one-off job not yet fired) for good; False if unknown."""
    return await cancel_schedule(resolve_settings(nats_url), job_id)


@public
async def pause_scheduled_job(job_id: str, nats_url: Url = None) -> bool:
    """Stop a schedule firing until resumed; False if unknown."""
    return await pause_schedule(resolve_settings(nats_url), job_id)


@public
async def resume_scheduled_job(job_id: str, nats_url: Url = None) -> bool:
    """Let a paused or failed schedule fire again (one catch-up run at most); False if unknown."""
    return await resume_schedule(resolve_settings(nats_url), job_id)


@public
async def modify_scheduled_job(job_id: str, nats_url: Url = None, **changes: Any) -> ScheduleRecord:
    """Change ``cron``, ``cron_tz``, ``interval``, ``repeat`` or ``next_run`` of a schedule; the new record.

    ``ConfigurationError`` for any other key, ``JobNotFoundError`` for an unknown id.
    """
    return await modify_schedule(resolve_settings(nats_url), job_id, changes)


@public
async def run_scheduled_job_now(schedule_id: str, nats_url: Url = None, *, job_id: str | None = None) -> Job:
    """Enqueue one extra run of a schedule now; its Job. See :meth:`Queue.run_scheduled_job_now`."""
    return await run_schedule_now(resolve_settings(nats_url), schedule_id, job_id)


@public
async def list_scheduled_jobs(
    status: str | None = None, queue: str | None = None, nats_url: Url = None
) -> list[ScheduleRecord]:
    """Every schedule and pending one-off job (of ``queue``, in ``status``, when given), soonest first."""
    return await list_schedules(resolve_settings(nats_url), status, queue)


@public
async def connect(url: Url = None, *, nats_url: Url = None) -> NATS:
    """Open the default connection now rather than on first use; returns its nats-py client.

    The connection is the one every naq call on this event loop with the same settings shares
    (``NAQ_*`` from the environment, ``url`` over them; ``nats_url`` is the same argument under
    the name the other functions use). ``NaqConnectionError`` if NATS cannot be reached. Close it
    with :func:`disconnect`, not on the client itself.
    """
    if url is not None and nats_url is not None:
        raise ConfigurationError("give url or nats_url (the same argument), not both")
    connection = await get_connection(resolve_settings(nats_url if url is None else url))
    return connection.nc


@public
async def close() -> None:
    """Close this event loop's naq connections (optional: they also close with the loop).

    The next naq call opens a connection again. :func:`disconnect` is the same function under
    the original naq's name.
    """
    await close_connections()


@public
async def disconnect() -> None:
    """Close this event loop's naq connections: :func:`close` under the original naq's name."""
    await close_connections()


def connect_sync(url: Url = None, *, nats_url: Url = None) -> None:
    """Blocking :func:`connect` for the sync API's background loop (its client stays on that loop,
    so it is not returned)."""
    run_sync(connect(url, nats_url=nats_url))


def disconnect_sync() -> None:
    """Close the sync API's connections (the next ``*_sync`` call opens one again)."""
    run_sync(close_connections())


def enqueue_sync(
    func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> SyncJob:
    """Blocking :func:`enqueue`; returns a :class:`SyncJob` (blocking ``result``, ``status``, ``cancel``)."""
    return SyncJob(run_sync(enqueue(func, *args, queue_name=queue_name, nats_url=nats_url, **kwargs)))


def enqueue_many_sync(
    func: Any, calls: Any, /, *, queue_name: str | None = None, nats_url: Url = None, **options: Any
) -> list[SyncJob]:
    """Blocking :func:`enqueue_many`; returns one :class:`SyncJob` per call, in order."""
    jobs = run_sync(enqueue_many(func, calls, queue_name=queue_name, nats_url=nats_url, **options))
    return [SyncJob(job) for job in jobs]


def purge_queue_sync(queue_name: str | None = None, nats_url: Url = None) -> int:
    """Blocking :func:`purge_queue`."""
    return run_sync(purge_queue(queue_name, nats_url))


def fetch_job_result_sync(job_id: str, nats_url: Url = None, *, allow_pickle: bool | None = None) -> Any:
    """Blocking :func:`fetch_job_result`."""
    return run_sync(fetch_job_result(job_id, nats_url, allow_pickle=allow_pickle))


def cancel_job_sync(job_id: str, nats_url: Url = None) -> bool:
    """Blocking :func:`cancel_job`."""
    return run_sync(cancel_job(job_id, nats_url))


def list_workers_sync(nats_url: Url = None) -> list[WorkerHeartbeat]:
    """Blocking :func:`list_workers`."""
    return run_sync(list_workers(nats_url))


def enqueue_at_sync(
    when: Any, func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> SyncJob:
    """Blocking :func:`enqueue_at`; returns the :class:`SyncJob` its run will be."""
    return SyncJob(run_sync(enqueue_at(when, func, *args, queue_name=queue_name, nats_url=nats_url, **kwargs)))


def enqueue_in_sync(
    delay: Any, func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> SyncJob:
    """Blocking :func:`enqueue_in`; returns the :class:`SyncJob` its run will be."""
    return SyncJob(run_sync(enqueue_in(delay, func, *args, queue_name=queue_name, nats_url=nats_url, **kwargs)))


def schedule_sync(
    func: Any, /, *args: Any, queue_name: str | None = None, nats_url: Url = None, **kwargs: Any
) -> SyncScheduledJob:
    """Blocking :func:`schedule`; returns a :class:`SyncScheduledJob` (blocking ``info``, ``pause``,
    ``resume``, ``cancel``, ``modify``)."""
    return SyncScheduledJob(run_sync(schedule(func, *args, queue_name=queue_name, nats_url=nats_url, **kwargs)))


def cancel_scheduled_job_sync(job_id: str, nats_url: Url = None) -> bool:
    """Blocking :func:`cancel_scheduled_job`."""
    return run_sync(cancel_scheduled_job(job_id, nats_url))


def pause_scheduled_job_sync(job_id: str, nats_url: Url = None) -> bool:
    """Blocking :func:`pause_scheduled_job`."""
    return run_sync(pause_scheduled_job(job_id, nats_url))


def resume_scheduled_job_sync(job_id: str, nats_url: Url = None) -> bool:
    """Blocking :func:`resume_scheduled_job`."""
    return run_sync(resume_scheduled_job(job_id, nats_url))


def modify_scheduled_job_sync(job_id: str, nats_url: Url = None, **changes: Any) -> ScheduleRecord:
    """Blocking :func:`modify_scheduled_job`."""
    return run_sync(modify_scheduled_job(job_id, nats_url, **changes))


def run_scheduled_job_now_sync(schedule_id: str, nats_url: Url = None, *, job_id: str | None = None) -> SyncJob:
    """Blocking :func:`run_scheduled_job_now`; returns the extra run's :class:`SyncJob`."""
    return SyncJob(run_sync(run_scheduled_job_now(schedule_id, nats_url, job_id=job_id)))


def list_scheduled_jobs_sync(
    status: str | None = None, queue: str | None = None, nats_url: Url = None
) -> list[ScheduleRecord]:
    """Blocking :func:`list_scheduled_jobs`."""
    return run_sync(list_scheduled_jobs(status, queue, nats_url))
