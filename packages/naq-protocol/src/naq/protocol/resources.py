"""The streams, consumers and KV buckets naq uses, as plain data in one place.

Client, worker and scheduler all create and check resources from these specs, so they can never
disagree. ``api_config()`` gives the JetStream API's own JSON (durations in nanoseconds), the form
the server accepts in ``$JS.API.STREAM.CREATE`` / ``CONSUMER.CREATE`` and returns in its info
replies; :func:`config_differences` compares a spec with what a server holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from naq.protocol.names import (
    DELAYED_PREFIX,
    DUPLICATE_WINDOW,
    EVENTS_MAX_AGE,
    EVENTS_MAX_BYTES,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    FAILED_JOBS_MAX_BYTES,
    FAILED_JOBS_STREAM,
    FAILED_PREFIX,
    JOB_STATUS_BUCKET,
    JOBS_STREAM,
    KV_SUBJECT_PREFIX,
    QUEUE_PREFIX,
    RESULTS_BUCKET,
    SCHEDULER_LOCK_BUCKET,
    SCHEDULES_BUCKET,
    WAITING_BUCKET,
    WORKERS_BUCKET,
)
from naq.protocol.settings import Settings
from naq.protocol.subjects import consumer_name, queue_subject

__all__ = [
    "BucketSpec",
    "ConsumerSpec",
    "StreamSpec",
    "all_buckets",
    "all_streams",
    "config_differences",
    "events_stream",
    "failed_jobs_stream",
    "job_status_bucket",
    "jobs_stream",
    "queue_consumer",
    "queue_is_full",
    "results_bucket",
    "scheduler_lock_bucket",
    "schedules_bucket",
    "waiting_bucket",
    "workers_bucket",
]

_NS: Final = 1_000_000_000
_KV_DELETE_MARKER_TTL: Final = 60.0


def _ns(seconds: float) -> int:
    return round(seconds * _NS)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A JetStream stream as naq configures it. Durations are seconds (0 = unlimited)."""

    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "workqueue", "interest"]
    num_replicas: int
    max_bytes: int = -1
    max_age: float = 0.0
    max_msgs_per_subject: int = -1
    discard: Literal["old", "new"] = "old"
    storage: Literal["file", "memory"] = "file"
    duplicate_window: float = DUPLICATE_WINDOW
    allow_direct: bool = False
    allow_rollup_hdrs: bool = False
    deny_delete: bool = False
    allow_msg_ttl: bool = False
    allow_msg_schedules: bool = False
    subject_delete_marker_ttl: float = 0.0

    @property
    def effective_duplicate_window(self) -> float:
        """The duplicate window, shortened to ``max_age``: the server refuses a longer one."""
        return min(self.duplicate_window, self.max_age) if self.max_age else self.duplicate_window

    def api_config(self) -> dict[str, Any]:
        """The stream's configuration in the JetStream API's JSON form."""
        config: dict[str, Any] = {
            "name": self.name,
            "subjects": list(self.subjects),
            "retention": self.retention,
            "storage": self.storage,
            "num_replicas": self.num_replicas,
            "max_consumers": -1,
            "max_msgs": -1,
            "max_bytes": self.max_bytes,
            "max_age": _ns(self.max_age),
            "max_msgs_per_subject": self.max_msgs_per_subject,
            "max_msg_size": -1,
            "discard": self.discard,
            "duplicate_window": _ns(self.effective_duplicate_window),
            "allow_direct": self.allow_direct,
            "allow_rollup_hdrs": self.allow_rollup_hdrs,
            "deny_delete": self.deny_delete,
            "allow_msg_ttl": self.allow_msg_ttl,
            "allow_msg_schedules": self.allow_msg_schedules,
        }
        if self.subject_delete_marker_ttl:
            config["subject_delete_marker_ttl"] = _ns(self.subject_delete_marker_ttl)
        return config


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A KV bucket as naq configures it; :meth:`stream` is the stream that backs it.

    ``max_age`` (seconds, 0 = keep) expires every key; per-key TTLs need ``allow_msg_ttl``.
    ``delete_markers`` makes expiry visible to watchers (a delete marker is left behind).
    """

    bucket: str
    num_replicas: int
    history: int = 1
    max_age: float = 0.0
    max_bytes: int = -1
    direct: bool = True
    allow_msg_ttl: bool = True
    delete_markers: bool = False

    @property
    def stream_name(self) -> str:
        """Name of the backing stream, ``KV_<bucket>``."""
        return f"KV_{self.bucket}"

    def stream(self) -> StreamSpec:
        """The stream a KV client expects behind this bucket (the KV layout of the NATS clients)."""
        return StreamSpec(
            name=self.stream_name,
            subjects=(f"{KV_SUBJECT_PREFIX}.{self.bucket}.>",),
            retention="limits",
            num_replicas=self.num_replicas,
            max_bytes=self.max_bytes,
            max_age=self.max_age,
            max_msgs_per_subject=self.history,
            discard="new",
            allow_direct=self.direct,
            allow_rollup_hdrs=True,
            deny_delete=True,
            allow_msg_ttl=self.allow_msg_ttl,
            subject_delete_marker_ttl=_KV_DELETE_MARKER_TTL if self.delete_markers else 0.0,
        )


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A durable pull consumer with explicit acks. ``max_deliver`` is unlimited on purpose: naq
    counts attempts and crash redeliveries itself, and a capped consumer would strand messages."""

    stream: str
    durable_name: str
    filter_subject: str
    ack_wait: float
    max_ack_pending: int
    max_deliver: int = -1

    def api_config(self) -> dict[str, Any]:
        """The consumer's configuration in the JetStream API's JSON form."""
        return {
            "durable_name": self.durable_name,
            "filter_subject": self.filter_subject,
            "deliver_policy": "all",
            "ack_policy": "explicit",
            "ack_wait": _ns(self.ack_wait),
            "max_deliver": self.max_deliver,
            "max_ack_pending": self.max_ack_pending,
            "replay_policy": "instant",
        }


# --- naq's resources ----------------------------------------------------------------------------


def jobs_stream(settings: Settings) -> StreamSpec:
    """``naq_jobs``: queued jobs and server-scheduled delayed jobs.

    nats-server refuses ``discard: new`` on a stream that allows message schedules ("message
    scheduling cannot use discard new"), and ``discard: old`` with a byte limit would silently drop
    the oldest queued jobs. So the stream has no hard byte limit; ``NAQ_QUEUE_MAX_BYTES`` is
    enforced by producers, which refuse an enqueue with ``QueueFullError`` once the stream holds
    that much (see :func:`queue_is_full`). Schedules also require rollup headers to be allowed.
    """
    return StreamSpec(
        name=JOBS_STREAM,
        subjects=(f"{QUEUE_PREFIX}.>", f"{DELAYED_PREFIX}.>"),
        retention="workqueue",
        num_replicas=settings.replicas,
        max_bytes=-1,
        discard="old",
        duplicate_window=DUPLICATE_WINDOW,
        allow_rollup_hdrs=True,
        allow_msg_schedules=True,
    )


def queue_is_full(stream_bytes: int, settings: Settings) -> bool:
    """True when ``naq_jobs`` holding ``stream_bytes`` is at ``NAQ_QUEUE_MAX_BYTES`` (-1: never)."""
    return settings.queue_max_bytes != -1 and stream_bytes >= settings.queue_max_bytes


def failed_jobs_stream(settings: Settings) -> StreamSpec:
    """``naq_failed_jobs``: the dead-letter queue, the latest record per job, kept for a bounded age."""
    return StreamSpec(
        name=FAILED_JOBS_STREAM,
        subjects=(f"{FAILED_PREFIX}.>",),
        retention="limits",
        num_replicas=settings.replicas,
        max_bytes=FAILED_JOBS_MAX_BYTES,
        max_age=float(settings.failed_jobs_max_age),
        max_msgs_per_subject=1,
        discard="new",
        allow_direct=True,
    )


def events_stream(settings: Settings) -> StreamSpec:
    """``naq_events``: job and system events for the monitor, bounded in age and size."""
    return StreamSpec(
        name=EVENTS_STREAM,
        subjects=(f"{EVENTS_PREFIX}.>",),
        retention="limits",
        num_replicas=settings.replicas,
        max_bytes=EVENTS_MAX_BYTES,
        max_age=EVENTS_MAX_AGE,
        discard="old",
    )


def queue_consumer(queue: str, settings: Settings) -> ConsumerSpec:
    """``naq-worker-<queue>``: the durable consumer every worker of ``queue`` shares."""
    return ConsumerSpec(
        stream=JOBS_STREAM,
        durable_name=consumer_name(queue),
        filter_subject=queue_subject(queue),
        ack_wait=settings.ack_wait,
        max_ack_pending=settings.max_ack_pending,
    )


def results_bucket(settings: Settings) -> BucketSpec:
    """``naq_results``: one record per job id, each with its own TTL; bounded in size."""
    return BucketSpec(RESULTS_BUCKET, settings.replicas, max_bytes=settings.results_max_bytes)


def job_status_bucket(settings: Settings) -> BucketSpec:
    """``naq_job_status``: non-terminal states, expiring after ``NAQ_JOB_STATUS_TTL``."""
    return BucketSpec(JOB_STATUS_BUCKET, settings.replicas, max_age=float(settings.job_status_ttl))


def waiting_bucket(settings: Settings) -> BucketSpec:
    """``naq_waiting``: parked dependents; never expire, since expiry would lose a job."""
    return BucketSpec(WAITING_BUCKET, settings.replicas)


def schedules_bucket(settings: Settings) -> BucketSpec:
    """``naq_scheduled_jobs``: schedule records, updated by compare-and-set."""
    return BucketSpec(SCHEDULES_BUCKET, settings.replicas)


def scheduler_lock_bucket(settings: Settings) -> BucketSpec:
    """``naq_scheduler_lock``: the leader lock, a per-key TTL whose expiry watchers can see."""
    return BucketSpec(SCHEDULER_LOCK_BUCKET, settings.replicas, delete_markers=True)


def workers_bucket(settings: Settings) -> BucketSpec:
    """``naq_workers``: heartbeats that vanish ``NAQ_WORKER_TTL`` after a worker's last beat."""
    return BucketSpec(WORKERS_BUCKET, settings.replicas, max_age=float(settings.worker_ttl), delete_markers=True)


def all_buckets(settings: Settings) -> tuple[BucketSpec, ...]:
    """Every KV bucket naq uses."""
    return (
        results_bucket(settings),
        job_status_bucket(settings),
        waiting_bucket(settings),
        schedules_bucket(settings),
        scheduler_lock_bucket(settings),
        workers_bucket(settings),
    )


def all_streams(settings: Settings) -> tuple[StreamSpec, ...]:
    """Every stream naq uses, KV-backing streams included."""
    return (
        jobs_stream(settings),
        failed_jobs_stream(settings),
        events_stream(settings),
        *(bucket.stream() for bucket in all_buckets(settings)),
    )


_FALSE_WHEN_ABSENT: Final = frozenset(
    {"allow_direct", "allow_rollup_hdrs", "deny_delete", "allow_msg_ttl", "allow_msg_schedules"}
)


def config_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Keys naq sets whose value differs on the server, as ``"key: expected X, found Y"``.

    Only keys in ``expected`` count: the server adds defaults and other tools may set more. A
    boolean flag the server omits counts as false.
    """
    differences = []
    for key, want in expected.items():
        have = actual.get(key, False if key in _FALSE_WHEN_ABSENT else None)
        if have != want:
            differences.append(f"{key}: expected {want!r}, found {have!r}")
    return differences
