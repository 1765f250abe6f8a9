"""naq.client: enqueue Python function calls on NATS JetStream, schedule them, read their results."""

from loguru import logger

from naq.client._api import (
    cancel_job,
    cancel_job_sync,
    cancel_scheduled_job,
    cancel_scheduled_job_sync,
    close,
    enqueue,
    enqueue_at,
    enqueue_at_sync,
    enqueue_in,
    enqueue_in_sync,
    enqueue_many,
    enqueue_many_sync,
    enqueue_sync,
    fetch_job_result,
    fetch_job_result_sync,
    list_scheduled_jobs,
    list_scheduled_jobs_sync,
    list_workers,
    list_workers_sync,
    modify_scheduled_job,
    modify_scheduled_job_sync,
    pause_scheduled_job,
    pause_scheduled_job_sync,
    purge_queue,
    purge_queue_sync,
    resume_scheduled_job,
    resume_scheduled_job_sync,
    schedule,
    schedule_sync,
)
from naq.client._job import Job
from naq.client._queue import Queue
from naq.client._schedules import ScheduledJob
from naq.client._version import __version__
from naq.protocol import JobStatus, ScheduleRecord, ScheduleStatus, Settings, WorkerHeartbeat
from naq.protocol.errors import (
    ConfigurationError,
    DependencyFailedError,
    JobCancelledError,
    JobExecutionError,
    JobNotFoundError,
    NaqConnectionError,
    NaqError,
    NaqException,
    QueueFullError,
    SerializationError,
)

# A library logs nothing unless the application asks: `logger.enable("naq")`. The CLIs do.
logger.disable("naq")

__all__ = [
    "__version__",
    # queues and jobs
    "Job",
    "JobStatus",
    "Queue",
    "ScheduledJob",
    "ScheduleRecord",
    "ScheduleStatus",
    "Settings",
    "WorkerHeartbeat",
    # module-level API (original naq names) and sync twins
    "cancel_scheduled_job",
    "cancel_scheduled_job_sync",
    "enqueue_at",
    "enqueue_at_sync",
    "enqueue_in",
    "enqueue_in_sync",
    "list_scheduled_jobs",
    "list_scheduled_jobs_sync",
    "modify_scheduled_job",
    "modify_scheduled_job_sync",
    "pause_scheduled_job",
    "pause_scheduled_job_sync",
    "resume_scheduled_job",
    "resume_scheduled_job_sync",
    "schedule",
    "schedule_sync",
    "cancel_job",
    "cancel_job_sync",
    "close",
    "enqueue",
    "enqueue_many",
    "enqueue_many_sync",
    "enqueue_sync",
    "fetch_job_result",
    "fetch_job_result_sync",
    "list_workers",
    "list_workers_sync",
    "purge_queue",
    "purge_queue_sync",
    # errors
    "ConfigurationError",
    "DependencyFailedError",
    "JobCancelledError",
    "JobExecutionError",
    "JobNotFoundError",
    "NaqConnectionError",
    "NaqError",
    "NaqException",
    "QueueFullError",
    "SerializationError",
]
