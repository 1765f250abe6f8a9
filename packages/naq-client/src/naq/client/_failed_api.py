"""Module-level actions on the dead-letter queue: requeue and delete failed jobs.

Listing is the read API's :func:`~naq.client.failed_jobs`; these change it. Each takes a
:class:`FailedEntry` that was listed (no second read) or a job id (looked up first).
"""

from __future__ import annotations

from naq.client._api import Url
from naq.client._connection import Connection, get_connection
from naq.client._errors import public
from naq.client._failed import FailedEntry, delete_failed, find_failed, requeue_failed
from naq.client._queue import resolve_settings
from naq.client._sync import run_sync

__all__ = ["delete_failed_job", "delete_failed_job_sync", "requeue_failed_job", "requeue_failed_job_sync"]


async def _entry(connection: Connection, failed: FailedEntry | str, queue: str | None) -> FailedEntry:
    if isinstance(failed, FailedEntry):
        return failed
    return await find_failed(connection, failed, queue)


@public
async def requeue_failed_job(failed: FailedEntry | str, queue: str | None = None, nats_url: Url = None) -> str:
    """Put a failed job back on its queue as it was, with fresh attempts; returns its job id.

    ``failed`` is an entry of :func:`~naq.client.failed_jobs` or a job id (searched in ``queue``,
    or in every queue). ``JobNotFoundError`` if no such job is in the dead-letter queue;
    ``ValueError`` for an undecodable message (it can only be deleted). Its old result is
    removed first, so waiting on the job sees the new run's result.
    """
    connection = await get_connection(resolve_settings(nats_url))
    return await requeue_failed(connection, await _entry(connection, failed, queue))


@public
async def delete_failed_job(failed: FailedEntry | str, queue: str | None = None, nats_url: Url = None) -> None:
    """Remove a record from the dead-letter queue for good (an entry of
    :func:`~naq.client.failed_jobs`, or a job id); ``JobNotFoundError`` if there is none.
    A later failure of the same job, recorded after ``failed`` was listed, is kept."""
    connection = await get_connection(resolve_settings(nats_url))
    await delete_failed(connection, await _entry(connection, failed, queue))


def requeue_failed_job_sync(failed: FailedEntry | str, queue: str | None = None, nats_url: Url = None) -> str:
    """Blocking :func:`requeue_failed_job`."""
    return run_sync(requeue_failed_job(failed, queue, nats_url))


def delete_failed_job_sync(failed: FailedEntry | str, queue: str | None = None, nats_url: Url = None) -> None:
    """Blocking :func:`delete_failed_job`."""
    run_sync(delete_failed_job(failed, queue, nats_url))
