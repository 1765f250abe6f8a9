"""Blocking handles for code without an event loop: ``SyncJob`` (what the ``*_sync`` enqueue
functions return) and ``SyncScheduledJob`` (what ``schedule_sync`` returns)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from naq.client._job import Job
from naq.client._schedules import ScheduledJob
from naq.client._sync import run_sync
from naq.protocol import JobStatus, ScheduleRecord

__all__ = ["SyncJob", "SyncScheduledJob"]


@dataclass(frozen=True, slots=True)
class SyncJob:
    """A blocking handle on an enqueued job, for code without an event loop.

    Each method runs the async :class:`Job`'s method of the same name on naq's background loop
    and waits for it, so it works from any thread (a script, or a running loop's thread pool).
    ``job`` is the async handle, for code that has a loop after all.
    """

    job: Job

    def __repr__(self) -> str:
        return f"SyncJob(job_id={self.job_id!r}, queue={self.queue!r})"

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self.job.job_id

    @property
    def queue(self) -> str:
        """The queue the job was enqueued on."""
        return self.job.queue

    def result(self, timeout: float | None = None, *, allow_pickle: bool | None = None) -> Any:
        """Block until the job ends and return its value (``None``: wait as long as it takes).

        Raises as :meth:`Job.result`: ``JobExecutionError`` if the job failed, ``TimeoutError``
        if it has not ended within ``timeout`` seconds, ``PickleNotAllowedError`` for a pickled
        value without ``allow_pickle`` (default ``NAQ_ALLOW_PICKLE``).
        """
        return run_sync(self.job.result(timeout, allow_pickle=allow_pickle))

    def status(self) -> JobStatus:
        """Where the job is now (see :meth:`Job.status`)."""
        return run_sync(self.job.status())

    def cancel(self) -> bool:
        """Cancel the job (see :func:`naq.client.cancel_job`); False if it already ended or is unknown."""
        return run_sync(self.job.cancel())


@dataclass(frozen=True, slots=True)
class SyncScheduledJob:
    """A blocking handle on a schedule, returned by :func:`naq.client.schedule_sync`.

    Each method runs the :class:`ScheduledJob` method of the same name on naq's background loop
    and waits for it; ``scheduled`` is the async handle.
    """

    scheduled: ScheduledJob

    def __repr__(self) -> str:
        return f"SyncScheduledJob(schedule_id={self.schedule_id!r}, queue={self.queue!r})"

    @property
    def schedule_id(self) -> str:
        """The schedule's id."""
        return self.scheduled.schedule_id

    @property
    def job_id(self) -> str:
        """The schedule id, under the original naq's name."""
        return self.scheduled.schedule_id

    @property
    def queue(self) -> str:
        """The queue the schedule's runs go to."""
        return self.scheduled.queue

    def info(self) -> ScheduleRecord:
        """The schedule's record as stored now; ``JobNotFoundError`` once it is gone."""
        return run_sync(self.scheduled.info())

    def pause(self) -> bool:
        """Stop firing until resumed; False if the schedule is gone."""
        return run_sync(self.scheduled.pause())

    def resume(self) -> bool:
        """Fire again (one catch-up run for what fell due while paused); False if it is gone."""
        return run_sync(self.scheduled.resume())

    def cancel(self) -> bool:
        """Delete the schedule for good; False if it was already gone."""
        return run_sync(self.scheduled.cancel())

    def modify(self, **changes: Any) -> ScheduleRecord:
        """Change ``cron``, ``cron_tz``, ``interval``, ``repeat`` or ``next_run``; the new record."""
        return run_sync(self.scheduled.modify(**changes))

    def run_now(self, job_id: str | None = None) -> SyncJob:
        """Enqueue one extra run now (see :func:`naq.client.run_scheduled_job_now`); its :class:`SyncJob`."""
        return SyncJob(run_sync(self.scheduled.run_now(job_id)))
