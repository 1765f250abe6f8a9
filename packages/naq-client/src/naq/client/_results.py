"""Reading results: one get, or a wait that watches the one result key (never a consumer per wait).

A wait subscribes (core NATS) to the exact subject ``$KV.naq_results.<job_id>`` for its duration,
then reads the key to close the race with a result written before the subscription (three more
reads in its first 1.3 s cover a write that was in flight at that moment). No consumer is created.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import nats.errors

from naq.client._connection import Connection
from naq.client._resources import kv_value
from naq.protocol import (
    DependencyFailedError,
    JobCancelledError,
    JobExecutionError,
    JobNotFoundError,
    PickleNotAllowedError,
    ResultRecord,
    exception_ref,
    get_serializer,
    names,
    validate_job_id,
)
from naq.protocol.refs import canonical_exception_ref
from naq.protocol.subjects import result_subject

__all__ = [
    "fetch_result_value",
    "read_result_record",
    "require_result",
    "result_value",
    "wait_for_result_record",
]


_RECHECKS: Final = (0.05, 0.25, 1.0)
"""Seconds between the reads that close the subscribe/store race; after them, the subscription alone."""


async def read_result_record(connection: Connection, job_id: str) -> ResultRecord | None:
    """The stored result of ``job_id``, or ``None`` if there is none (yet, or any more)."""
    value = await kv_value(connection, names.RESULTS_BUCKET, validate_job_id(job_id))
    return None if value is None else ResultRecord.decode(value)


async def _stored_result(connection: Connection, job_id: str) -> ResultRecord | None:
    """The stored result, for a wait: ``None`` also while the results bucket does not exist."""
    try:
        return await read_result_record(connection, job_id)
    except nats.errors.NoRespondersError:
        # No results bucket yet (workers create it, and none has started since the server was
        # new): nothing is stored, and the result will come through the subscription.
        return None


async def wait_for_result_record(connection: Connection, job_id: str, timeout: float | None) -> ResultRecord:
    """The result of ``job_id`` once it is written; ``TimeoutError`` after ``timeout`` seconds."""
    validate_job_id(job_id)
    arrived: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_message(message: Any) -> None:
        operation = (message.headers or {}).get(names.HEADER_KV_OPERATION)
        if message.data and operation is None and not arrived.done():
            arrived.set_result(message.data)

    subscription = await connection.nc.subscribe(result_subject(job_id), cb=on_message)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    try:
        # A write in flight while we subscribed reaches neither the subscription (it passed the
        # server first) nor an immediate read (not stored yet): read again a few times while such a
        # write can still be landing, then rely on the subscription alone.
        for pause in (*_RECHECKS, None):
            existing = await _stored_result(connection, job_id)
            if existing is not None:
                return existing
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            wait = remaining if pause is None else (pause if remaining is None else min(pause, remaining))
            try:
                return ResultRecord.decode(await asyncio.wait_for(asyncio.shield(arrived), wait))
            except TimeoutError:
                if remaining is not None and wait >= remaining:
                    raise TimeoutError(f"no result for job {job_id} within {timeout} s") from None
        raise AssertionError("unreachable: the last pause waits until the deadline")
    finally:
        await subscription.unsubscribe()


_ERRORS: dict[str, type[JobExecutionError]] = {
    exception_ref(DependencyFailedError): DependencyFailedError,
    exception_ref(JobCancelledError): JobCancelledError,
}
"""naq's own job errors, raised as themselves (both are ``JobExecutionError`` subclasses); looked
up by wire name, so a record written under an error's former name is read the same."""


def result_value(record: ResultRecord, allow_pickle: bool = False) -> Any:
    """The job's return value, or ``JobExecutionError`` carrying the remote error if it did not complete.

    A job that never ran because a dependency failed raises ``DependencyFailedError``, a cancelled
    job ``JobCancelledError``; both are ``JobExecutionError`` subclasses. A value stored as pickle
    is unpickled only with ``allow_pickle`` (unpickling runs code chosen by whoever wrote the
    record); without it, ``PickleNotAllowedError`` and nothing is unpickled.
    """
    if record.status == "completed":
        if record.serializer == "pickle" and not allow_pickle:
            raise PickleNotAllowedError(
                f"the result of job {record.job_id} is stored as pickle, which this reader does not unpickle "
                "(unpickling runs code chosen by whoever wrote it): pass allow_pickle=True to the read "
                "(job.result(), fetch_job_result()) or set NAQ_ALLOW_PICKLE=true where it is read"
            )
        return get_serializer(record.serializer).load_value(record.value)
    error = record.error
    assert error is not None  # guaranteed by ResultRecord for every status but completed
    raised = _ERRORS.get(canonical_exception_ref(error.type), JobExecutionError)
    raise raised(record.job_id, error.type, error.message, error.traceback)


def require_result(record: ResultRecord | None, job_id: str) -> ResultRecord:
    """``record``, or ``JobNotFoundError`` for a job with no result (unknown, not ended, or expired)."""
    if record is None:
        raise JobNotFoundError(f"no result for job {job_id!r} (unknown, not finished, or expired)")
    return record


async def fetch_result_value(connection: Connection, job_id: str, allow_pickle: bool = False) -> Any:
    """The result value of ``job_id`` without waiting; ``JobNotFoundError`` if there is none."""
    return result_value(require_result(await read_result_record(connection, job_id), job_id), allow_pickle)
