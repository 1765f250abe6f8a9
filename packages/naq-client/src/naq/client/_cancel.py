"""Cancelling a job: scheduled, queued, waiting for its dependencies or a retry, or running.

The cancel is recorded durably first (a ``cancelled`` state in ``naq_job_status``, which every
worker watches), then told to the workers (``naq.control.cancel.<job_id>``): the worker running
the job interrupts it (async) or flags it (sync, through ``ctx.cancelled``) and answers. A job
that no worker runs gets its cancelled result at once; when its message is delivered later, the
worker recognises the id and ends it without running it. A parked job is released with a
cancelled verdict, so its dependents fail with ``DependencyFailedError``.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Final

import nats.errors
import nats.js.errors

from naq.client._connection import Connection
from naq.client._dependencies import dependency_ended, parked_on, parked_record, release
from naq.client._jsapi import JetStreamAPIError, js_api
from naq.client._kv_cas import kv_write_if
from naq.client._resources import ensure_bucket, ensure_stream, kv_value
from naq.client._results import read_result_record
from naq.client._schedule_store import one_off_to_cancel
from naq.protocol import (
    ControlCommand,
    DependencyVerdict,
    JobEnvelope,
    JobStatus,
    JobStatusRecord,
    ResultRecord,
    SerializationError,
    names,
    resources,
    validate_job_id,
)
from naq.protocol.subjects import control_subject, kv_key_subject

__all__ = ["cancel_job"]

_WORKER_ANSWER: Final = 0.5
"""Seconds to wait for the worker running the job to confirm the cancel."""

_SCAN_LIMIT: Final = 100_000
"""Most queued messages looked at to find a job that has no other trace (bounded, documented)."""

_NO_MESSAGE: Final = 10037
_MSG_ID: Final = names.HEADER_MSG_ID.encode()


async def cancel_job(connection: Connection, job_id: str) -> bool:
    """Cancel ``job_id``; True if it was queued, waiting or running, False if unknown or already ended."""
    validate_job_id(job_id)
    settings = connection.settings
    await ensure_bucket(connection, resources.job_status_bucket(settings))
    if await read_result_record(connection, job_id) is not None:
        return False
    status = await _status(connection, job_id)
    if status is not None and status.status == JobStatus.CANCELLED:
        return False
    envelope = None
    if status is None:
        # Not fired yet (a one-off job of enqueue_at/enqueue_in), or already on its queue.
        envelope = await one_off_to_cancel(connection, job_id) or await _find_queued(connection, job_id)
    if status is None and envelope is None:
        return False
    queue = status.queue if status is not None else envelope.queue  # type: ignore[union-attr]
    tombstone = JobStatusRecord(
        job_id=job_id,
        queue=queue,
        status=JobStatus.CANCELLED,
        attempts=status.attempts if status is not None else 0,
        updated_at=time.time(),
    )
    await connection.js.publish(kv_key_subject(names.JOB_STATUS_BUCKET, job_id), tombstone.encode())
    if await _tell_workers(connection, job_id):
        return True  # the worker running it records the outcome
    parked = None
    if status is not None and status.status == JobStatus.WAITING and status.waiting_on:
        parked = await parked_record(connection, status.waiting_on[0], job_id)
        if parked is not None:
            envelope = parked.job
    # The result first, then the release: the worker that ends the released job must find it
    # cancelled already, not race this write with a cancelled result of its own.
    if not await _write_cancelled_result(connection, job_id, queue, envelope):
        return False  # it ended while we were cancelling it
    if parked is not None:
        await release(connection, parked, DependencyVerdict.cancelled())
    # Its dependents fail now, not when a worker reaches its message in the queue.
    for dependent in await parked_on(connection, job_id):
        await dependency_ended(connection, job_id, dependent, "cancelled")
    return True


async def _status(connection: Connection, job_id: str) -> JobStatusRecord | None:
    value = await kv_value(connection, names.JOB_STATUS_BUCKET, job_id)
    try:
        return None if value is None else JobStatusRecord.decode(value)
    except SerializationError:
        return None


async def _tell_workers(connection: Connection, job_id: str) -> bool:
    """Send the cancel command; True if the worker running the job answered."""
    subject = control_subject(ControlCommand.CANCEL, job_id)
    try:
        await connection.nc.request(subject, b"", timeout=_WORKER_ANSWER)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    return True


async def _find_queued(connection: Connection, job_id: str) -> JobEnvelope | None:
    """The job's message on a queue, looked for message by message (its id is in no subject)."""
    await ensure_stream(connection, resources.jobs_stream(connection.settings))
    wanted = job_id.encode()
    sequence = 0
    for _ in range(_SCAN_LIMIT):
        try:
            reply = await js_api(
                connection,
                f"STREAM.MSG.GET.{names.JOBS_STREAM}",
                {"seq": sequence + 1, "next_by_subj": f"{names.QUEUE_PREFIX}.>"},
            )
        except JetStreamAPIError as exc:
            if exc.code == _NO_MESSAGE:
                return None
            raise
        message: dict[str, Any] = reply["message"]
        sequence = int(message["seq"])
        if _carries_id(base64.b64decode(message.get("hdrs") or ""), wanted):
            try:
                return JobEnvelope.decode(base64.b64decode(message.get("data") or ""))
            except SerializationError:
                return None
    return None


def _carries_id(headers: bytes, job_id: bytes) -> bool:
    # The first publish carries the job id; later ones a derived id "<job_id>.<purpose>.<n>".
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip() == _MSG_ID:
            value = value.strip()
            return value == job_id or value.startswith(job_id + b".")
    return False


async def _write_cancelled_result(
    connection: Connection, job_id: str, queue: str, envelope: JobEnvelope | None
) -> bool:
    """Store the cancelled result unless the job has a result already; False if it had."""
    settings = connection.settings
    await ensure_bucket(connection, resources.results_bucket(settings))
    ttl = settings.default_result_ttl
    if envelope is not None and envelope.result_ttl is not None:
        ttl = envelope.result_ttl
    if ttl == 0:
        return True
    record = ResultRecord.cancelled(job_id, queue, serializer=envelope.serializer if envelope is not None else "json")
    # Only if there is no result yet: a job that completed meanwhile keeps its result.
    return await kv_write_if(connection, names.RESULTS_BUCKET, job_id, record.encode(), 0, ttl=ttl) is not None
