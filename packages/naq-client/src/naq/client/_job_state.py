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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar, cast

from naq.client._connection import Connection
from naq.client._direct import StoredMessage, message_get
from naq.client._resources import kv_value
from naq.client._results import read_result_record
from naq.client._schedule_store import read_schedule
from naq.client._workers import read_workers
from naq.protocol import (
    JobEnvelope,
    JobStatus,
    JobStatusRecord,
    ResultRecord,
    ScheduleRecord,
    SerializationError,
    WorkerHeartbeat,
    names,
    validate_job_id,
    validate_queue_name,
)
from naq.protocol.subjects import parse_derived_message_id, parse_schedule_at, queue_subject

__all__ = ["ALL_QUEUES", "QUEUED_SCAN_LIMIT", "JobState", "JobTrace", "message_job_id", "read_job_state"]

T = TypeVar("T")

QUEUED_SCAN_LIMIT: Final = 1000
"""Most messages of a queue a status read looks through for a queued job (one request each)."""

ALL_QUEUES: Final = f"{names.QUEUE_PREFIX}.>"
"""Subject filter over the messages of every queue."""


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's status and, for a scheduled job or a retry waiting on a schedule, when it runs."""

    status: JobStatus
    at: float | None = None
    """Unix time of the scheduled run or the next attempt, when known."""


class JobTrace:
    """What naq keeps about one job, each piece read once, when first asked for (no consumer)."""

    def __init__(self, connection: Connection, job_id: str) -> None:
        self.connection = connection
        self.job_id = validate_job_id(job_id)
        self._read: dict[str, object] = {}

    async def _once(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        if key not in self._read:
            self._read[key] = await read()
        return cast(T, self._read[key])

    async def result(self) -> ResultRecord | None:
        """The result record (``naq_results``)."""
        return await self._once("result", lambda: read_result_record(self.connection, self.job_id))

    async def result_again(self) -> ResultRecord | None:
        """The result record read anew (what :meth:`result` returns from then on)."""
        self._read.pop("result", None)
        return await self.result()

    async def status_record(self) -> JobStatusRecord | None:
        """The non-terminal state record (``naq_job_status``); ``None`` if absent or unreadable."""
        return await self._once("status", self._status_record)

    async def _status_record(self) -> JobStatusRecord | None:
        value = await kv_value(self.connection, names.JOB_STATUS_BUCKET, self.job_id)
        try:
            return None if value is None else JobStatusRecord.decode(value)
        except SerializationError:
            return None

    async def running_on(self) -> WorkerHeartbeat | None:
        """The heartbeat of the worker running the job now, if one is."""
        return await self._once("worker", self._running_on)

    async def _running_on(self) -> WorkerHeartbeat | None:
        workers = await read_workers(self.connection)
        return next((worker for worker in workers if self.job_id in worker.current_jobs), None)

    async def delayed_retry(self) -> StoredMessage | None:
        """The job's next attempt waiting on a server-side schedule (``naq.delayed.<job_id>.<n>``)."""
        return await self._once("delayed", self._delayed_retry)

    async def _delayed_retry(self) -> StoredMessage | None:
        request = {"last_by_subj": f"{names.DELAYED_PREFIX}.{self.job_id}.*"}
        message = await message_get(self.connection, names.JOBS_STREAM, request)
        if message is None or not message.subject.rpartition(".")[2].isdigit():
            return None  # none, or a parked job's dependency deadline (not a run)
        return message

    async def one_off(self) -> ScheduleRecord | None:
        """The pending ``enqueue_at`` / ``enqueue_in`` record of the job, if there is one."""
        return await self._once("one_off", self._one_off)

    async def _one_off(self) -> ScheduleRecord | None:
        try:
            stored = await read_schedule(self.connection, self.job_id)
        except SerializationError:
            return None  # not a record naq can read: no schedule of this job
        return None if stored is None or not stored[0].one_off else stored[0]

    async def queued(self, subject: str) -> StoredMessage | None:
        """The job's message among the first :data:`QUEUED_SCAN_LIMIT` on ``subject`` (waiting,
        or taken by a worker and not yet acknowledged)."""
        return await self._once(f"queued:{subject}", lambda: self._queued(subject))

    async def _queued(self, subject: str) -> StoredMessage | None:
        sequence = 0
        for _ in range(QUEUED_SCAN_LIMIT):
            message = await message_get(self.connection, names.JOBS_STREAM, {"seq": sequence, "next_by_subj": subject})
            if message is None:
                return None
            if message_job_id(message) == self.job_id:
                return message
            sequence = message.sequence + 1
        return None


async def read_job_state(
    connection: Connection, job_id: str, queue: str | None, trace: JobTrace | None = None
) -> JobState:
    """Where ``job_id`` is now (see the module docstring); ``queue=None`` looks on every queue.

    With ``trace``, what it reads stays there for the caller (see :func:`naq.client.job_info`).
    """
    validate_job_id(job_id)
    subject = ALL_QUEUES if queue is None else queue_subject(validate_queue_name(queue))
    trace = trace if trace is not None else JobTrace(connection, job_id)
    result = await trace.result()
    if result is not None:
        return JobState(JobStatus(result.status))
    record = await trace.status_record()
    stored = None if record is None else record.status
    if stored in (JobStatus.CANCELLED, JobStatus.WAITING):
        return JobState(stored)
    if await trace.running_on() is not None:
        return JobState(JobStatus.RUNNING)
    retry = await trace.delayed_retry()
    retry_at = None if retry is None else parse_schedule_at(retry.headers.get(names.HEADER_SCHEDULE, ""))
    if stored == JobStatus.RETRYING:
        return JobState(JobStatus.RETRYING, retry_at)
    one_off = await trace.one_off()
    run_at = None
    if one_off is not None:
        run_at = one_off.pending_run_at if one_off.pending_run_at is not None else one_off.next_run_at
    if run_at is not None or retry_at is not None:
        return JobState(JobStatus.SCHEDULED, run_at if run_at is not None else retry_at)
    if await trace.queued(subject) is not None:
        return JobState(JobStatus.QUEUED)
    # A job leaves its queue only after its result is written: one that ended while the reads
    # above ran was in neither place when each looked, so its result is read once more.
    result = await trace.result_again()
    if result is not None:
        return JobState(JobStatus(result.status))
    return JobState(JobStatus.UNKNOWN)


def message_job_id(message: StoredMessage) -> str | None:
    """The id of the job a queue message carries: from its message id, else from the job itself."""
    message_id = message.headers.get(names.HEADER_MSG_ID)
    if message_id:
        derived = parse_derived_message_id(message_id)
        return message_id if derived is None else derived[0]
    try:
        return JobEnvelope.decode(message.data).job_id
    except (SerializationError, ValueError):
        return None
