"""Builders for the subjects, consumer names, KV keys and message ids naq derives from ids.

Every builder validates its ids, so a bad value fails here with a ``ValueError`` naming it.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime

from naq.protocol.ids import (
    MAX_ID_LENGTH,
    validate_job_id,
    validate_queue_name,
    validate_schedule_id,
    validate_token,
)
from naq.protocol.names import (
    CONSUMER_PREFIX,
    CONTROL_PREFIX,
    DELAYED_PREFIX,
    EVENTS_PREFIX,
    FAILED_PREFIX,
    KV_SUBJECT_PREFIX,
    QUEUE_PREFIX,
    RESULTS_BUCKET,
    SYSTEM_EVENTS_TOKEN,
    UNDECODABLE_TOKEN,
    WAITING_BUCKET,
    ControlCommand,
    MessagePurpose,
)

__all__ = [
    "consumer_name",
    "control_filter",
    "control_subject",
    "delayed_subject",
    "dependency_deadline_subject",
    "derived_message_id",
    "event_subject",
    "failed_queue_filter",
    "failed_subject",
    "kv_key_subject",
    "parse_derived_message_id",
    "queue_subject",
    "result_subject",
    "run_now_job_id",
    "parse_schedule_at",
    "schedule_at",
    "schedule_run_job_id",
    "system_event_subject",
    "undecodable_subject",
    "waiting_filter",
    "waiting_key",
    "waiting_prefix",
]

_BUCKET = re.compile(r"[A-Za-z0-9_-]+")
_KEY = re.compile(r"[-/_=.A-Za-z0-9]+")


def _sequence(kind: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{kind} must be a non-negative integer, got {n!r}")
    return n


def queue_subject(queue: str) -> str:
    """Subject jobs of ``queue`` are published to: ``naq.queue.<queue>``."""
    return f"{QUEUE_PREFIX}.{validate_queue_name(queue)}"


def consumer_name(queue: str) -> str:
    """Durable consumer shared by every worker of ``queue``: ``naq-worker-<queue>``."""
    return f"{CONSUMER_PREFIX}{validate_queue_name(queue)}"


def delayed_subject(job_id: str, n: int) -> str:
    """Subject of the ``n``-th server-scheduled publish of ``job_id``: ``naq.delayed.<job_id>.<n>``."""
    return f"{DELAYED_PREFIX}.{validate_job_id(job_id)}.{_sequence('delay number', n)}"


def dependency_deadline_subject(job_id: str) -> str:
    """Subject of a parked job's ``dependency_timeout`` message: ``naq.delayed.<job_id>.deadline``."""
    return f"{DELAYED_PREFIX}.{validate_job_id(job_id)}.{MessagePurpose.DEADLINE}"


def failed_subject(queue: str, job_id: str) -> str:
    """Dead-letter subject of a job: ``naq.failed.<queue>.<job_id>``."""
    return f"{FAILED_PREFIX}.{validate_queue_name(queue)}.{validate_job_id(job_id)}"


def undecodable_subject(queue: str, stream_sequence: int) -> str:
    """Dead-letter subject of an undecodable message: ``naq.failed.<queue>._raw.<sequence>``."""
    seq = _sequence("stream sequence", stream_sequence)
    return f"{FAILED_PREFIX}.{validate_queue_name(queue)}.{UNDECODABLE_TOKEN}.{seq}"


def failed_queue_filter(queue: str | None = None) -> str:
    """Filter subject over the dead-letter records of one queue, or of all queues when ``None``."""
    if queue is None:
        return f"{FAILED_PREFIX}.>"
    return f"{FAILED_PREFIX}.{validate_queue_name(queue)}.>"


def event_subject(queue: str, kind: str) -> str:
    """Subject of a job event: ``naq.events.<queue>.<kind>``."""
    return f"{EVENTS_PREFIX}.{validate_queue_name(queue)}.{validate_token('event kind', kind)}"


def system_event_subject(kind: str) -> str:
    """Subject of a system event: ``naq.events._sys.<kind>``."""
    return f"{EVENTS_PREFIX}.{SYSTEM_EVENTS_TOKEN}.{validate_token('event kind', kind)}"


def control_subject(command: ControlCommand | str, job_id: str) -> str:
    """Core subject of a control command for a job: ``naq.control.<command>.<job_id>``."""
    return f"{CONTROL_PREFIX}.{ControlCommand(command)}.{validate_job_id(job_id)}"


def control_filter(command: ControlCommand | str) -> str:
    """Subscription subject for one control command over every job: ``naq.control.<command>.*``."""
    return f"{CONTROL_PREFIX}.{ControlCommand(command)}.*"


def kv_key_subject(bucket: str, key: str) -> str:
    """Subject a KV put of ``key`` in ``bucket`` is published on: ``$KV.<bucket>.<key>``."""
    if _BUCKET.fullmatch(bucket) is None:
        raise ValueError(f"invalid bucket name {bucket!r}")
    if _KEY.fullmatch(key) is None or key.startswith(".") or key.endswith("."):
        raise ValueError(f"invalid KV key {key!r}")
    return f"{KV_SUBJECT_PREFIX}.{bucket}.{key}"


def result_subject(job_id: str) -> str:
    """Exact subject of a job's result key, to watch one result with a plain core subscription."""
    return kv_key_subject(RESULTS_BUCKET, validate_job_id(job_id))


def waiting_key(dependency_id: str, dependent_id: str) -> str:
    """Key of a parked dependent in ``naq_waiting``: ``<dependency_id>.<dependent_id>``."""
    return f"{validate_job_id(dependency_id)}.{validate_job_id(dependent_id)}"


def waiting_prefix(dependency_id: str) -> str:
    """Key filter over every dependent parked on ``dependency_id``: ``<dependency_id>.*``."""
    return f"{validate_job_id(dependency_id)}.*"


def waiting_filter(dependency_id: str) -> str:
    """Subject filter over the keys of every dependent parked on ``dependency_id``."""
    return f"{KV_SUBJECT_PREFIX}.{WAITING_BUCKET}.{waiting_prefix(dependency_id)}"


def derived_message_id(job_id: str, purpose: MessagePurpose | str, n: int) -> str:
    """Message id of a later publish of a job: ``<job_id>.<purpose>.<n>``.

    The duplicate window outlives consumption, so every publish after the first needs its own id;
    ``n`` tells apart publishes of the same purpose (the attempt number for a retry, a counter
    for a requeue).
    """
    return f"{validate_job_id(job_id)}.{MessagePurpose(purpose)}.{_sequence('message number', n)}"


def parse_derived_message_id(message_id: str) -> tuple[str, MessagePurpose, int] | None:
    """Split a derived message id into (job id, purpose, n); ``None`` if it is not one."""
    parts = message_id.split(".")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    try:
        return validate_job_id(parts[0]), MessagePurpose(parts[1]), int(parts[2])
    except ValueError:
        return None


def _utc(when: datetime | float) -> datetime:
    if isinstance(when, datetime):
        # A naive datetime is UTC, as documented for every naq time argument.
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise ValueError(f"a time must be a datetime or a finite Unix timestamp, got {when!r}")
    return datetime.fromtimestamp(when, UTC)


def schedule_at(when: datetime | float) -> str:
    """Value of the ``Nats-Schedule`` header for a one-off run at ``when``: ``@at <RFC 3339 UTC>``.

    The server schedules in whole seconds, so a fractional time is rounded up: a job never runs
    before the time it was given.
    """
    moment = _utc(when)
    whole = math.ceil(moment.timestamp())
    return "@at " + datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_schedule_at(value: str) -> float | None:
    """The Unix time of a ``Nats-Schedule`` header written by :func:`schedule_at`; ``None`` for any other value."""
    if not value.startswith("@at "):
        return None
    try:
        return datetime.fromisoformat(value[4:].strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def schedule_run_job_id(schedule_id: str, run_time: datetime | float) -> str:
    """Job id of the run of ``schedule_id`` due at ``run_time``: ``<schedule_id>-r<due time in ms>``.

    The same (schedule, due time) always gives the same id, so a second scheduler publishing the
    same run is dropped by JetStream's duplicate window. Long schedule ids are shortened with a
    hash so the result stays a valid id.
    """
    return _run_job_id(schedule_id, "r", run_time)


def run_now_job_id(schedule_id: str, called_at: datetime | float) -> str:
    """Job id of an extra run of ``schedule_id`` asked for at ``called_at`` (``run_scheduled_job_now``):
    ``<schedule_id>-n<call time in ms>``, never the id of a due run (``-r``); hashed to fit as
    :func:`schedule_run_job_id` is."""
    return _run_job_id(schedule_id, "n", called_at)


def _run_job_id(schedule_id: str, marker: str, when: datetime | float) -> str:
    validate_schedule_id(schedule_id)
    millis = round(_utc(when).timestamp() * 1000)
    suffix = f"-{marker}{millis}"
    if len(schedule_id) + len(suffix) <= MAX_ID_LENGTH:
        return schedule_id + suffix
    digest = hashlib.sha256(schedule_id.encode()).hexdigest()[:12]
    keep = MAX_ID_LENGTH - len(suffix) - len(digest) - 1
    return f"{schedule_id[:keep]}-{digest}{suffix}"
