"""Where a job is now, from what naq keeps anyway: ``Job.status()`` and ``naq status``.

A queued or running job has no per-job record (the hot path writes none), so the state is read
from several places, in this order:

1. the result record (``naq_results``): ``completed``, ``failed``, ``cancelled``;
2. ``naq_job_status``: ``waiting``, ``cancelled``;
3. the workers' heartbeats (their current jobs): ``running``;
4. ``naq_job_status``: ``retrying`` (with the time of the next attempt when it waits on a
   server-side schedule);
5. a one-off schedule record (``enqueue_at``, ``enqueue_in``) keyed by the job id, or a delayed
   retry on ``naq.delayed.<job_id>.<n>`` with no status record: ``scheduled``, with its time;
6. the first :data:`QUEUED_SCAN_LIMIT` messages waiting on the queue's subject (oldest first,
   read one by one with the stream's message get: no consumer): ``queued``;
7. otherwise ``unknown``: never enqueued, expired, or further back in a longer queue.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from naq.client._connection import Connection
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
from naq.client._resources import kv_value
from naq.client._results import read_result_record
from naq.client._schedule_store import read_schedule
from naq.client._workers import read_workers
from naq.protocol import (
    JobEnvelope,
    JobStatus,
    JobStatusRecord,
    SerializationError,
    names,
    validate_job_id,
    validate_queue_name,
)
from naq.protocol.subjects import parse_derived_message_id, parse_schedule_at, queue_subject

__all__ = ["QUEUED_SCAN_LIMIT", "JobState", "read_job_state"]

QUEUED_SCAN_LIMIT: Final = 1000
"""Most messages of a queue a status read looks through for a queued job (one request each)."""

_NO_MESSAGE: Final = 10037
"""JetStream error code: no message matches the get."""

_ALL_QUEUES: Final = f"{names.QUEUE_PREFIX}.>"


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's status and, for a scheduled job or a retry waiting on a schedule, when it runs."""

    status: JobStatus
    at: float | None = None
    """Unix time of the scheduled run or the next attempt, when known."""


async def read_job_state(connection: Connection, job_id: str, queue: str | None) -> JobState:
    """Where ``job_id`` is now (see the module docstring); ``queue=None`` looks on every queue."""
    validate_job_id(job_id)
    subject = _ALL_QUEUES if queue is None else queue_subject(validate_queue_name(queue))
    result = await read_result_record(connection, job_id)
    if result is not None:
        return JobState(JobStatus(result.status))
    value = await kv_value(connection, names.JOB_STATUS_BUCKET, job_id)
    stored = None if value is None else JobStatusRecord.decode(value).status
    if stored in (JobStatus.CANCELLED, JobStatus.WAITING):
        return JobState(stored)
    if any(job_id in worker.current_jobs for worker in await read_workers(connection)):
        return JobState(JobStatus.RUNNING)
    retry_at = await _delayed_retry_at(connection, job_id)
    if stored == JobStatus.RETRYING:
        return JobState(JobStatus.RETRYING, retry_at)
    run_at = await _one_off_run_at(connection, job_id)
    if run_at is not None or retry_at is not None:
        return JobState(JobStatus.SCHEDULED, run_at if run_at is not None else retry_at)
    if await _waits_on(connection, job_id, subject):
        return JobState(JobStatus.QUEUED)
    return JobState(JobStatus.UNKNOWN)


async def _one_off_run_at(connection: Connection, job_id: str) -> float | None:
    try:
        stored = await read_schedule(connection, job_id)
    except SerializationError:
        return None  # not a record naq can read: no schedule of this job
    if stored is None or not stored[0].one_off:
        return None
    record = stored[0]
    return record.pending_run_at if record.pending_run_at is not None else record.next_run_at


async def _get(connection: Connection, request: dict[str, Any]) -> dict[str, Any] | None:
    """One message of the job stream (``STREAM.MSG.GET``), or ``None`` if none matches."""
    try:
        reply = await js_api(connection, f"STREAM.MSG.GET.{names.JOBS_STREAM}", request)
    except JetStreamAPIError as exc:
        if exc.code in (_NO_MESSAGE, STREAM_NOT_FOUND):
            return None
        raise
    return reply["message"]


async def _delayed_retry_at(connection: Connection, job_id: str) -> float | None:
    """The time of a retry of ``job_id`` waiting on a server-side schedule, if there is one."""
    message = await _get(connection, {"last_by_subj": f"{names.DELAYED_PREFIX}.{job_id}.*"})
    if message is None or not message["subject"].rpartition(".")[2].isdigit():
        return None  # none, or a parked job's dependency deadline (not a run)
    return parse_schedule_at(_headers(message).get(names.HEADER_SCHEDULE, ""))


async def _waits_on(connection: Connection, job_id: str, subject: str) -> bool:
    """Whether ``job_id`` is among the first :data:`QUEUED_SCAN_LIMIT` messages on ``subject``."""
    sequence = 0
    for _ in range(QUEUED_SCAN_LIMIT):
        message = await _get(connection, {"seq": sequence, "next_by_subj": subject})
        if message is None:
            return False
        if _message_job_id(message) == job_id:
            return True
        sequence = message["seq"] + 1
    return False


def _headers(message: dict[str, Any]) -> dict[str, str]:
    raw = message.get("hdrs")
    if not raw:
        return {}
    try:
        lines = base64.b64decode(raw).decode("utf-8", "replace").split("\r\n")[1:]  # after NATS/1.0
    except (binascii.Error, ValueError):
        return {}
    pairs = (line.partition(":") for line in lines if ":" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


def _message_job_id(message: dict[str, Any]) -> str | None:
    """The id of the job a queue message carries: from its message id, else from the job itself."""
    message_id = _headers(message).get(names.HEADER_MSG_ID)
    if message_id:
        derived = parse_derived_message_id(message_id)
        return message_id if derived is None else derived[0]
    try:
        return JobEnvelope.decode(base64.b64decode(message.get("data") or "")).job_id
    except (SerializationError, binascii.Error, ValueError):
        return None
