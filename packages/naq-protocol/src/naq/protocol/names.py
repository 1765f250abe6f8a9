"""Every NATS name naq uses: streams, subject prefixes, buckets, keys, headers and enumerations.

Nothing outside naq.protocol spells one of these strings; subjects and keys built from ids come
from :mod:`naq.protocol.subjects`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "CONSUMER_PREFIX",
    "CONTROL_PREFIX",
    "DEFAULT_DEPENDENCY_TIMEOUT",
    "DEFAULT_QUEUE",
    "DELAYED_PREFIX",
    "DUPLICATE_WINDOW",
    "EVENTS_MAX_AGE",
    "EVENTS_MAX_BYTES",
    "EVENTS_PREFIX",
    "EVENTS_STREAM",
    "FAILED_JOBS_MAX_BYTES",
    "FAILED_JOBS_STREAM",
    "FAILED_PREFIX",
    "EVENT_JOB_STATUS",
    "HEADER_ATTEMPT",
    "HEADER_DEPENDENCIES",
    "HEADER_EXPECTED_LAST_SUBJECT_SEQUENCE",
    "HEADER_KV_OPERATION",
    "HEADER_MARKER_REASON",
    "HEADER_MSG_ID",
    "HEADER_ROLLUP",
    "HEADER_SCHEDULE",
    "HEADER_SIGNATURE",
    "HEADER_SCHEDULE_TARGET",
    "HEADER_TTL",
    "JOBS_STREAM",
    "KV_DELETE_OPERATIONS",
    "JOB_STATUS_BUCKET",
    "MAX_TTL",
    "KV_SUBJECT_PREFIX",
    "LEADER_LOCK_KEY",
    "QUEUE_PREFIX",
    "RESULTS_BUCKET",
    "SCHEDULER_LOCK_BUCKET",
    "SCHEDULES_BUCKET",
    "SYSTEM_EVENTS_TOKEN",
    "UNDECODABLE_TOKEN",
    "WAITING_BUCKET",
    "WORKERS_BUCKET",
    "ControlCommand",
    "EventKind",
    "JobStatus",
    "MessagePurpose",
    "ScheduleStatus",
    "SystemEventKind",
    "WorkerStatus",
]

# --- queues -------------------------------------------------------------------------------------

DEFAULT_QUEUE: Final = "default"
"""Queue used when none is named (override with ``NAQ_DEFAULT_QUEUE``)."""

DEFAULT_DEPENDENCY_TIMEOUT: Final = 86_400.0
"""Seconds a parked dependent waits for its dependencies to end before it fails (override with
``NAQ_DEPENDENCY_TIMEOUT`` or the ``dependency_timeout`` option)."""

# --- streams ------------------------------------------------------------------------------------

JOBS_STREAM: Final = "naq_jobs"
"""WorkQueue stream holding queued jobs (``naq.queue.>``) and server-side delayed jobs (``naq.delayed.>``)."""

QUEUE_PREFIX: Final = "naq.queue"
"""Jobs for queue Q are published to ``naq.queue.Q``; deeper levels are reserved for priorities."""

DELAYED_PREFIX: Final = "naq.delayed"
"""Server-scheduled messages ``naq.delayed.<job_id>.<n>``, moved to their queue subject when due."""

DUPLICATE_WINDOW: Final = 120.0
"""Seconds JetStream remembers a ``Nats-Msg-Id`` on the job stream, so a retried publish is one job."""

FAILED_JOBS_STREAM: Final = "naq_failed_jobs"
"""Limits stream of jobs that failed for good (the dead-letter queue), listable without consuming."""

FAILED_PREFIX: Final = "naq.failed"
"""Failed job J of queue Q is kept at ``naq.failed.Q.J`` (the latest failure per job)."""

UNDECODABLE_TOKEN: Final = "_raw"
"""Undecodable messages of queue Q are kept at ``naq.failed.Q._raw.<stream sequence>``."""

FAILED_JOBS_MAX_BYTES: Final = 1024**3
"""Bytes the dead-letter stream may hold; when full, new failures are refused, never old ones lost."""

EVENTS_STREAM: Final = "naq_events"
"""Limits stream of job and system events that feeds the monitor."""

EVENTS_PREFIX: Final = "naq.events"
"""Events of queue Q are published to ``naq.events.Q.<kind>``."""

SYSTEM_EVENTS_TOKEN: Final = "_sys"
"""Reserved queue token for system events (``naq.events._sys.<kind>``); no queue may be named so."""

EVENTS_MAX_AGE: Final = 24 * 3600.0
"""Seconds an event is kept."""

EVENTS_MAX_BYTES: Final = 256 * 1024**2
"""Bytes the event stream may hold; the oldest events are dropped first."""

CONTROL_PREFIX: Final = "naq.control"
"""Core NATS subjects ``naq.control.<command>.<job_id>`` that steer running workers."""

CONSUMER_PREFIX: Final = "naq-worker-"
"""Durable pull consumer of queue Q is ``naq-worker-Q``, shared by every worker of that queue."""

# --- key-value buckets --------------------------------------------------------------------------

KV_SUBJECT_PREFIX: Final = "$KV"
"""Subjects of key K in bucket B are ``$KV.B.K``; a core subscription there sees every put."""

RESULTS_BUCKET: Final = "naq_results"
"""Result records keyed by job id, each with its own TTL (``result_ttl``)."""

JOB_STATUS_BUCKET: Final = "naq_job_status"
"""Non-terminal job states (waiting, retrying, cancelled) and attempt counts, keyed by job id."""

WAITING_BUCKET: Final = "naq_waiting"
"""Parked dependents keyed ``<dependency_id>.<dependent_id>``, released when the dependency ends."""

SCHEDULES_BUCKET: Final = "naq_scheduled_jobs"
"""One JSON schedule record per schedule id."""

SCHEDULER_LOCK_BUCKET: Final = "naq_scheduler_lock"
"""Bucket of the scheduler leader lock."""

LEADER_LOCK_KEY: Final = "leader_lock"
"""Key of the TTL'd, compare-and-set scheduler leader lock."""

WORKERS_BUCKET: Final = "naq_workers"
"""Worker heartbeat records keyed by worker id; they expire after ``NAQ_WORKER_TTL``."""

# --- headers ------------------------------------------------------------------------------------

HEADER_MSG_ID: Final = "Nats-Msg-Id"
"""JetStream de-duplication id: the job id on first publish, a derived id on every later one."""

HEADER_SCHEDULE: Final = "Nats-Schedule"
"""Server-side message schedule, ``@at <RFC 3339 UTC>`` for a one-off delay."""

HEADER_SCHEDULE_TARGET: Final = "Nats-Schedule-Target"
"""Subject a server-side scheduled message is moved to when due."""

HEADER_TTL: Final = "Nats-TTL"
"""Per-message TTL in whole seconds (buckets created with ``allow_msg_ttl``)."""

MAX_TTL: Final = 2**31
"""Longest ``Nats-TTL`` naq writes (68 years): nats-server accepts a longer one (from about 8.5e9 s,
its expiry overflows int64 nanoseconds) and then drops the message at once, so a result kept "for
centuries" was lost as it was stored. A longer ``result_ttl`` keeps the result this long."""

HEADER_EXPECTED_LAST_SUBJECT_SEQUENCE: Final = "Nats-Expected-Last-Subject-Sequence"
"""Compare-and-set guard: the publish fails unless the subject's last sequence is this revision."""

HEADER_KV_OPERATION: Final = "KV-Operation"
"""KV delete (``DEL``) or purge (``PURGE``) marker of a key, as the NATS KV clients write them."""

KV_DELETE_OPERATIONS: Final = frozenset({"DEL", "PURGE"})
"""Values of ``KV-Operation`` that mean the key is gone."""

HEADER_MARKER_REASON: Final = "Nats-Marker-Reason"
"""On a marker the server placed itself (a key expired by TTL or age, or was removed)."""

HEADER_ROLLUP: Final = "Nats-Rollup"
"""``sub``: this message replaces every earlier one on its subject (a KV purge)."""

HEADER_ATTEMPT: Final = "Naq-Attempt"
"""Attempt number (1-based) of the run a republished job is for; absent means attempt 1."""

HEADER_SIGNATURE: Final = "Naq-Signature"
"""A signed job's ``<key_id>:<hex HMAC-SHA256 of the message data>`` (:mod:`naq.protocol.signing`);
carried unchanged by every republish of the job."""

HEADER_DEPENDENCIES: Final = "Naq-Dependencies"
"""On a job with ``depends_on``: what is known of its dependencies (see
:class:`naq.protocol.dependencies.DependencyVerdict`); absent means the worker must check them."""


# --- enumerations -------------------------------------------------------------------------------


class JobStatus(StrEnum):
    """Where a job is in its life; completed, failed and cancelled are terminal and live in the
    result record; unknown is what a status read says of an id it finds no trace of."""

    SCHEDULED = "scheduled"
    """Published for a later time (server-side schedule or scheduler)."""
    WAITING = "waiting"
    """Parked until its dependencies end."""
    QUEUED = "queued"
    """On its queue, not yet taken by a worker."""
    RUNNING = "running"
    """Taken by a worker (seen through events and heartbeats, not stored per job)."""
    RETRYING = "retrying"
    """Failed an attempt and waits for the next one."""
    COMPLETED = "completed"
    """Finished and returned a value."""
    FAILED = "failed"
    """Failed for good; the job is in the dead-letter queue."""
    CANCELLED = "cancelled"
    """Cancelled before or while running."""
    UNKNOWN = "unknown"
    """No trace of the job: never enqueued, expired, or beyond what a status read looks at."""

    @property
    def is_terminal(self) -> bool:
        """True for states that end a job (completed, failed, cancelled)."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class EventKind(StrEnum):
    """Kinds of job events, the last token of ``naq.events.<queue>.<kind>``."""

    ENQUEUED = "enqueued"
    """A job was published to its queue."""
    SCHEDULED = "scheduled"
    """A job was published for a later time."""
    STARTED = "started"
    """A worker began an attempt."""
    COMPLETED = "completed"
    """A job finished successfully."""
    RETRYING = "retrying"
    """An attempt failed and another will follow."""
    FAILED = "failed"
    """A job failed for good and went to the dead-letter queue."""
    CANCELLED = "cancelled"
    """A job was cancelled."""
    REQUEUED = "requeued"
    """A failed job was put back on its queue from the dead-letter queue."""
    WAITING = "waiting"
    """A job was parked until its dependencies end."""
    RELEASED = "released"
    """A parked job's dependencies ended; it was put on its queue."""


class SystemEventKind(StrEnum):
    """Kinds of system events, published to ``naq.events._sys.<kind>``."""

    WORKER_STARTED = "worker_started"
    """A worker registered and began fetching."""
    WORKER_STOPPED = "worker_stopped"
    """A worker deregistered."""
    LEADER_ELECTED = "leader_elected"
    """A scheduler took the leader lock."""
    LEADER_LOST = "leader_lost"
    """A scheduler lost or released the leader lock."""
    STORAGE_ERROR = "storage_error"
    """A write naq needs failed (full bucket, unavailable stream)."""


class WorkerStatus(StrEnum):
    """What a worker reports in its heartbeat."""

    STARTING = "starting"
    """Connecting and running startup hooks."""
    IDLE = "idle"
    """Running no job."""
    BUSY = "busy"
    """Running at least one job."""
    STOPPING = "stopping"
    """Draining in-flight jobs before exit."""


class ScheduleStatus(StrEnum):
    """State of a recurring schedule."""

    ACTIVE = "active"
    """Fires at its due times."""
    PAUSED = "paused"
    """Skips due times until resumed (then one catch-up run)."""
    CANCELLED = "cancelled"
    """Never fires again."""
    FAILED = "failed"
    """Stopped after ``NAQ_MAX_SCHEDULE_FAILURES`` failed publishes."""
    COMPLETED = "completed"
    """Fired its ``repeat`` runs."""


class MessagePurpose(StrEnum):
    """Why a job is published again; part of its derived message id ``<job_id>.<purpose>.<n>``."""

    REQUEUE = "requeue"
    """Replayed from the dead-letter queue."""
    RELEASE = "release"
    """A parked dependent released after its dependencies ended."""
    RETRY = "retry"
    """The next attempt after a failure, republished through a server-side schedule."""
    RUN_NOW = "run_now"
    """A scheduled job moved forward to run at once."""
    DEADLINE = "deadline"
    """A parked dependent's ``dependency_timeout``, published through a server-side schedule."""


class ControlCommand(StrEnum):
    """Commands sent on ``naq.control.<command>.<job_id>``."""

    CANCEL = "cancel"
    """Cancel a running job."""


EVENT_JOB_STATUS: Final[dict[EventKind, JobStatus]] = {
    EventKind.ENQUEUED: JobStatus.QUEUED,
    EventKind.SCHEDULED: JobStatus.SCHEDULED,
    EventKind.STARTED: JobStatus.RUNNING,
    EventKind.COMPLETED: JobStatus.COMPLETED,
    EventKind.RETRYING: JobStatus.RETRYING,
    EventKind.FAILED: JobStatus.FAILED,
    EventKind.CANCELLED: JobStatus.CANCELLED,
    EventKind.REQUEUED: JobStatus.QUEUED,
    EventKind.WAITING: JobStatus.WAITING,
    EventKind.RELEASED: JobStatus.QUEUED,
}
"""The status a job has after each kind of event (events carry status transitions)."""
