"""Everything naq keeps about one job, gathered in one read: :func:`naq.client.job_info`.

The status comes from :func:`~naq.client._job_state.read_job_state` (its pieces are read once
and kept, see :class:`~naq.client._job_state.JobTrace`); the job itself (its function and
arguments) from wherever a copy of it is stored: its message on the queue (waiting, or taken by
a worker and not yet acknowledged), its next attempt waiting on a server-side schedule, its
parked record, its one-off schedule record, or the dead-letter queue. A completed job's message
is gone (the queue is a work queue) and its result record does not repeat the call, so for it
``function`` and ``job`` are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from naq.client._connection import Connection
from naq.client._dependencies import parked_record
from naq.client._direct import StoredMessage, message_get
from naq.client._failed import FailedEntry
from naq.client._job_state import ALL_QUEUES, JobTrace, read_job_state
from naq.protocol import (
    ErrorInfo,
    FailedJobRecord,
    JobEnvelope,
    JobNotFoundError,
    JobStatus,
    ParkedJobRecord,
    ResultRecord,
    SerializationError,
    get_serializer,
    names,
)
from naq.protocol.subjects import failed_subject

__all__ = ["JobInfo", "JobLocation", "read_job_info"]

T = TypeVar("T")


class JobLocation(StrEnum):
    """Where the stored copy of a job (:attr:`JobInfo.job`) was found."""

    QUEUE = "queue"
    """Its message on its queue: waiting, or taken by a worker and not yet acknowledged."""
    DELAYED = "delayed"
    """Its next attempt, waiting on a server-side schedule (``naq.delayed.<job_id>.<n>``)."""
    PARKED = "parked"
    """Its parked record in ``naq_waiting`` (it waits for its dependencies)."""
    SCHEDULE = "schedule"
    """Its one-off schedule record (``enqueue_at`` / ``enqueue_in``, not fired yet)."""
    DEAD_LETTER = "dead_letter"
    """The dead-letter queue (it failed for good)."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    """What :func:`naq.client.job_info` found about one job. Times are Unix seconds (UTC)."""

    job_id: str
    status: JobStatus
    """As :meth:`naq.client.Job.status` reads it."""
    queue: str | None
    function: str | None
    """``module:qualname`` of the job's function, when a copy of the job is stored."""
    attempts: int
    """Attempts made: the result's count when it ended, the dead-letter record's, else the failed
    attempts so far (``naq_job_status``)."""
    enqueued_at: float | None
    started_at: float | None
    """When its last attempt started (from the result record)."""
    finished_at: float | None
    """When it ended (the result record, else the time it was dead-lettered)."""
    run_at: float | None
    """For a scheduled job or a retry waiting on a schedule: when it runs."""
    worker_id: str | None
    """The worker running it now, or the one that ended it."""
    result: ResultRecord | None
    """The result record: its value (``result.value``, in its serializer's form) or its error."""
    error: ErrorInfo | None
    """Why it failed or was cancelled, with the worker's traceback (``error.traceback``)."""
    dependencies: dict[str, JobStatus] = field(default_factory=dict)
    """Each of its ``depends_on`` jobs and that job's status now."""
    waiting_on: tuple[str, ...] = ()
    """For a waiting (parked) job: the dependencies that had not ended when it was parked."""
    job: JobEnvelope | None = None
    """The stored copy of the job (function, arguments in ``job.payload``, options)."""
    stored_in: JobLocation | None = None
    """Where :attr:`job` was found."""
    failed: FailedEntry | None = None
    """Its dead-letter record, for a job that failed for good (requeue it from there)."""

    @property
    def arguments(self) -> tuple[list[Any], dict[str, Any]] | None:
        """``(args, kwargs)`` of a stored JSON job; ``None`` without a stored copy or for a pickle
        job (unpickling would run the producer's code here)."""
        if self.job is None or self.job.serializer != "json":
            return None
        try:
            _, args, kwargs = get_serializer("json").load_call(self.job.payload)
        except SerializationError:
            return None
        return args, kwargs


async def read_job_info(connection: Connection, job_id: str) -> JobInfo:
    """Everything naq keeps about ``job_id``; ``JobNotFoundError`` if it finds no trace of it."""
    trace = JobTrace(connection, job_id)
    state = await read_job_state(connection, job_id, None, trace)
    result = await trace.result()
    record = await trace.status_record()
    queue = result.queue if result is not None else record.queue if record is not None else None
    failed = await _dead_letter(connection, job_id, queue) if state.status is JobStatus.FAILED else None
    job, stored_in = await _stored_job(trace, state.status, failed)
    if job is None and result is None and record is None and state.status is JobStatus.UNKNOWN:
        raise JobNotFoundError(f"no trace of job {job_id!r} (never enqueued, expired, or further back in a long queue)")
    running = await trace.running_on() if state.status is JobStatus.RUNNING else None
    dead = failed.record if failed is not None and isinstance(failed.record, FailedJobRecord) else None
    depends_on = job.depends_on if job is not None else record.waiting_on if record is not None else ()
    dependencies = {dep: (await read_job_state(connection, dep, None)).status for dep in depends_on}
    return JobInfo(
        job_id=job_id,
        status=state.status,
        queue=_first(queue, job and job.queue),
        function=job.function if job is not None else None,
        attempts=_first(result and result.attempts, dead and dead.attempts, record and record.attempts) or 0,
        enqueued_at=job.enqueued_at if job is not None else None,
        started_at=result.started_at if result is not None else None,
        finished_at=_first(result and result.finished_at, dead and dead.failed_at),
        run_at=state.at,
        worker_id=_first(running and running.worker_id, result and result.worker_id, dead and dead.worker_id),
        result=result,
        error=_first(result and result.error, dead and dead.error),
        dependencies=dependencies,
        waiting_on=record.waiting_on if record is not None and state.status is JobStatus.WAITING else (),
        job=job,
        stored_in=stored_in,
        failed=failed,
    )


async def _dead_letter(connection: Connection, job_id: str, queue: str | None) -> FailedEntry | None:
    """The job's dead-letter record: under its queue when known, else under any queue."""
    subject = failed_subject(queue, job_id) if queue is not None else f"{names.FAILED_PREFIX}.*.{job_id}"
    message = await message_get(connection, names.FAILED_JOBS_STREAM, {"last_by_subj": subject})
    if message is None:
        return None
    try:
        record = FailedJobRecord.decode(message.data)
    except SerializationError:
        return None
    return FailedEntry(job_id, record.job.queue, message.subject, message.sequence, record)


async def _stored_job(
    trace: JobTrace, status: JobStatus, failed: FailedEntry | None
) -> tuple[JobEnvelope | None, JobLocation | None]:
    """The stored copy of the job, looked for where its status says it is."""
    if failed is not None and isinstance(failed.record, FailedJobRecord):
        return failed.record.job, JobLocation.DEAD_LETTER
    if status.is_terminal:
        return None, None  # its message is gone; the result does not repeat the call
    if status is JobStatus.WAITING:
        parked = await _parked(trace)
        return (parked.job, JobLocation.PARKED) if parked is not None else (None, None)
    one_off = await trace.one_off()
    if one_off is not None:
        return one_off.job, JobLocation.SCHEDULE
    retry = await trace.delayed_retry()
    job = _envelope(retry)
    if job is not None:
        return job, JobLocation.DELAYED
    job = _envelope(await trace.queued(ALL_QUEUES))
    return (job, JobLocation.QUEUE) if job is not None else (None, None)


async def _parked(trace: JobTrace) -> ParkedJobRecord | None:
    record = await trace.status_record()
    for dependency in record.waiting_on if record is not None else ():
        parked = await parked_record(trace.connection, dependency, trace.job_id)
        if parked is not None:
            return parked
    return None


def _envelope(message: StoredMessage | None) -> JobEnvelope | None:
    if message is None:
        return None
    try:
        return JobEnvelope.decode(message.data)
    except SerializationError:
        return None


def _first(*values: T | None) -> T | None:
    """The first of ``values`` that is not ``None``."""
    return next((value for value in values if value is not None), None)
