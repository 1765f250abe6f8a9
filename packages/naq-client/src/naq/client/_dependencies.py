"""Jobs that wait for other jobs: parking them, and releasing them when their dependencies end.

Shared by producers (``enqueue`` parks a dependent whose dependencies are not done) and workers
(a job that ends releases what was parked on it). The layout is in
:mod:`naq.protocol.dependencies`. The rules that make it safe:

- *Park, then look again.* Parking writes the keys first and then re-reads the dependencies'
  results, so a dependency that ended while the keys were written still releases the job; the
  worker that ended it may release it too, and the shared release message id makes that one job.
- *Delete, then count.* A completed dependency deletes its own key and then reads the keys of the
  job's other dependencies: whichever of two simultaneous completions deletes last sees none left.
- *A failure publishes before it deletes.* So a completion that sees the key gone finds the
  failure's release already taken by JetStream's duplicate window, and the job never runs.
- Reads here go to the stream leader (``STREAM.MSG.GET``), not a direct get a lagging replica
  could answer, because each rule above depends on seeing the latest write.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from loguru import logger

from naq.client._connection import Connection
from naq.client._events import announce_jobs
from naq.client._jsapi import JetStreamAPIError, js_api
from naq.client._publish import JobMessage, check_job_size, job_message, publish_job, send
from naq.client._resources import ensure_bucket, kv
from naq.protocol import (
    DependencyOutcome,
    DependencyVerdict,
    EventKind,
    JobEnvelope,
    JobStatus,
    JobStatusRecord,
    MessagePurpose,
    ParkedJobRecord,
    ResultRecord,
    ResultStatus,
    SerializationError,
    Verdict,
    names,
    resources,
)
from naq.protocol.subjects import (
    dependency_deadline_subject,
    kv_key_subject,
    waiting_filter,
    waiting_key,
)

__all__ = [
    "DependencyStates",
    "decide",
    "delete_waiting",
    "dependency_ended",
    "dependency_states",
    "leader_value",
    "park",
    "parked_on",
    "parked_record",
    "release",
]

DependencyStates = dict[str, ResultStatus | None]
"""Each dependency's terminal state from its result record; ``None``: not ended (or unknown)."""

_NO_MESSAGE: Final = 10037
"""JetStream error code: no message matches the get."""

_DELETE_MARKER_TTL: Final = 60
"""Seconds a deleted waiting key's marker is kept: long enough for every watcher to see it."""

_KV_OPERATION: Final = names.HEADER_KV_OPERATION.encode()
_SERVER_MARKER: Final = names.HEADER_MARKER_REASON.encode()

_WINDOW: Final = 1000
"""Most writes in flight at once when parking many jobs."""

_MAX_DEPENDENTS: Final = 1_000_000
"""Bound of the walk over one job's parked dependents."""


async def leader_value(connection: Connection, bucket: str, key: str) -> bytes | None:
    """The current value of ``key`` in ``bucket``, read from the stream leader; ``None`` if absent."""
    await kv(connection, bucket)  # created if missing (checked once per connection)
    subject = kv_key_subject(bucket, key)
    try:
        reply = await js_api(connection, f"STREAM.MSG.GET.KV_{bucket}", {"last_by_subj": subject})
    except JetStreamAPIError as exc:
        if exc.code == _NO_MESSAGE:
            return None
        raise
    message = reply["message"]
    headers = base64.b64decode(message.get("hdrs") or "")
    if _KV_OPERATION in headers or _SERVER_MARKER in headers:
        return None  # a delete marker
    data = base64.b64decode(message.get("data") or "")
    return data or None


async def dependency_states(connection: Connection, job_ids: Iterable[str]) -> DependencyStates:
    """How each of ``job_ids`` ended, from its result record (``None``: not ended, or unknown)."""
    ids = list(dict.fromkeys(job_ids))
    values = await asyncio.gather(*(leader_value(connection, names.RESULTS_BUCKET, job_id) for job_id in ids))
    states: DependencyStates = {}
    for job_id, value in zip(ids, values, strict=True):
        try:
            states[job_id] = None if value is None else ResultRecord.decode(value).status
        except SerializationError:
            states[job_id] = None  # an unreadable result does not count as completed
    return states


def decide(envelope: JobEnvelope, states: DependencyStates) -> DependencyVerdict | None:
    """The verdict the dependencies' states give: met, failed (naming one), or ``None`` to wait."""
    waiting = False
    for dependency in envelope.depends_on:
        state = states.get(dependency)
        if state == "failed":
            return DependencyVerdict.failed(dependency, DependencyOutcome.FAILED)
        if state == "cancelled":
            return DependencyVerdict.failed(dependency, DependencyOutcome.CANCELLED)
        waiting = waiting or state != "completed"
    return None if waiting else DependencyVerdict.met()


async def park(
    connection: Connection,
    envelopes: Sequence[JobEnvelope],
    states: DependencyStates,
    signatures: Mapping[str, str | None] | None = None,
) -> None:
    """Park jobs whose dependencies have not all completed (``decide`` gave ``None``), then look again.

    Writes a key per unfinished dependency, the waiting status, and the ``dependency_timeout``
    message (a server-side schedule that fails the job if it is still waiting then).
    ``signatures`` gives each job's ``Naq-Signature`` by job id (absent or ``None``: unsigned; a
    job is never signed here), kept in its
    parked record and carried by every publish of it: the producer's own
    (:func:`~naq.client._publish.job_signature`), or, for a worker parking a delivered job, the
    one the job arrived with.
    """
    settings = connection.settings
    await ensure_bucket(connection, resources.waiting_bucket(settings))
    await ensure_bucket(connection, resources.job_status_bucket(settings))
    now = time.time()
    generation = time.time_ns()
    parked: list[tuple[ParkedJobRecord, list[str]]] = []
    for envelope in envelopes:
        timeout = envelope.dependency_timeout or settings.dependency_timeout
        record = ParkedJobRecord(
            job=envelope,
            generation=generation,
            parked_at=now,
            deadline=now + timeout,
            signature=None if signatures is None else signatures.get(envelope.job_id),
        )
        pending = [d for d in envelope.depends_on if states.get(d) is None]
        parked.append((record, pending))
    # Every message of every parking is measured before the first is written (the deadline message
    # by the job publish path as it is built): a job too large to park leaves nothing behind. (The
    # deadline message carries more headers than any release of the same parking, so a job that
    # can park can also be released.)
    writes = [(record, *_parking_messages(connection, record, pending)) for record, pending in parked]
    for record, messages, _ in writes:
        for subject, data, headers in messages:
            check_job_size(connection.nc, record.job.job_id, subject, data, headers)
    for start in range(0, len(writes), _WINDOW):
        window = writes[start : start + _WINDOW]
        await asyncio.gather(*(_write_parking(connection, messages, deadline) for _, messages, deadline in window))
        await announce_jobs(connection, EventKind.WAITING, [record.job for record, _, _ in window])
    # Look again: a dependency that ended while the keys were being written must still release.
    again = await dependency_states(connection, {d for _, pending in parked for d in pending})
    for record, pending in parked:
        for dependency in pending:
            state = again.get(dependency)
            if state is not None:
                await dependency_ended(connection, dependency, record, state)


_Message = tuple[str, bytes, dict[str, str] | None]
"""A message to publish: subject, data, headers."""


def _parking_messages(
    connection: Connection, record: ParkedJobRecord, pending: list[str]
) -> tuple[list[_Message], JobMessage]:
    """What parking ``record`` writes, in order: a key per pending dependency and the waiting
    status; then the ``dependency_timeout`` message (a publish of the job, built and measured)."""
    envelope = record.job
    encoded = record.encode()
    messages: list[_Message] = [
        (kv_key_subject(names.WAITING_BUCKET, waiting_key(dependency, envelope.job_id)), encoded, None)
        for dependency in pending
    ]
    status = JobStatusRecord(
        job_id=envelope.job_id,
        queue=envelope.queue,
        status=JobStatus.WAITING,
        attempts=0,
        updated_at=record.parked_at,
        waiting_on=tuple(pending),
        generation=record.generation,
    )
    messages.append((kv_key_subject(names.JOB_STATUS_BUCKET, envelope.job_id), status.encode(), None))
    deadline = job_message(
        connection,
        envelope,
        MessagePurpose.DEADLINE,
        record.generation,
        at=record.deadline,
        verdict=DependencyVerdict.deadline(record.generation),
        signature=record.signature,
    )
    return messages, deadline


async def _write_parking(connection: Connection, messages: list[_Message], deadline: JobMessage) -> None:
    for subject, data, headers in messages:
        await connection.js.publish(subject, data, headers=headers)
    await send(connection, deadline)


async def parked_record(connection: Connection, dependency_id: str, dependent_id: str) -> ParkedJobRecord | None:
    """The record parked under ``<dependency_id>.<dependent_id>``, if it is still there."""
    value = await leader_value(connection, names.WAITING_BUCKET, waiting_key(dependency_id, dependent_id))
    if value is None:
        return None
    try:
        return ParkedJobRecord.decode(value)
    except SerializationError as exc:
        logger.error("unreadable parked job under {}.{}: {}", dependency_id, dependent_id, exc)
        return None


async def parked_on(connection: Connection, dependency_id: str) -> list[ParkedJobRecord]:
    """Every job parked on ``dependency_id``, read from the stream (not from a watch).

    Walks only the keys ``<dependency_id>.*`` (the server filters by subject), one message per
    request: for the rare paths (a redelivered job that had ended, a cancel), never per job.
    """
    await kv(connection, names.WAITING_BUCKET)
    stream = f"KV_{names.WAITING_BUCKET}"
    subjects = waiting_filter(dependency_id)
    found: list[ParkedJobRecord] = []
    sequence = 0
    for _ in range(_MAX_DEPENDENTS):
        try:
            reply = await js_api(
                connection, f"STREAM.MSG.GET.{stream}", {"seq": sequence + 1, "next_by_subj": subjects}
            )
        except JetStreamAPIError as exc:
            if exc.code == _NO_MESSAGE:
                break
            raise
        message = reply["message"]
        sequence = int(message["seq"])
        headers = base64.b64decode(message.get("hdrs") or "")
        data = base64.b64decode(message.get("data") or "")
        if not data or _KV_OPERATION in headers or _SERVER_MARKER in headers:
            continue
        try:
            found.append(ParkedJobRecord.decode(data))
        except SerializationError as exc:
            logger.error("unreadable parked job at {}: {}", message.get("subject"), exc)
    return found


async def delete_waiting(connection: Connection, dependency_id: str, dependent_id: str) -> None:
    """Delete a waiting key; its delete marker expires by itself once watchers have seen it."""
    subject = kv_key_subject(names.WAITING_BUCKET, waiting_key(dependency_id, dependent_id))
    headers = {names.HEADER_KV_OPERATION: "DEL", names.HEADER_TTL: str(_DELETE_MARKER_TTL)}
    await connection.js.publish(subject, b"", headers=headers)


async def dependency_ended(
    connection: Connection, dependency_id: str, record: ParkedJobRecord, state: ResultStatus
) -> None:
    """``dependency_id`` ended as ``state``: release the parked job when that decides it.

    A release is published before the waiting key that held it is deleted, so a worker killed in
    between leaves the key (its redelivered dependency releases again; the duplicate is dropped)
    rather than a job no one will ever release. When other dependencies still wait, this key is
    deleted first and the others read again: of two dependencies ending at once, at least one
    then sees none left and releases.
    """
    dependent = record.job.job_id
    if state == "completed":
        others = [d for d in record.job.depends_on if d != dependency_id]
        if await _any_waiting(connection, others, dependent):
            await delete_waiting(connection, dependency_id, dependent)
            if await _any_waiting(connection, others, dependent):
                return
        await release(connection, record, DependencyVerdict.met())
        await delete_waiting(connection, dependency_id, dependent)
        return
    outcome = DependencyOutcome.CANCELLED if state == "cancelled" else DependencyOutcome.FAILED
    await release(connection, record, DependencyVerdict.failed(dependency_id, outcome))
    await delete_waiting(connection, dependency_id, dependent)


async def _any_waiting(connection: Connection, dependencies: list[str], dependent: str) -> bool:
    """Whether ``dependent`` still waits on any of ``dependencies`` (read from the stream leader)."""
    if not dependencies:
        return False
    values = await asyncio.gather(
        *(leader_value(connection, names.WAITING_BUCKET, waiting_key(d, dependent)) for d in dependencies)
    )
    return any(value is not None for value in values)


async def release(connection: Connection, record: ParkedJobRecord, verdict: DependencyVerdict) -> None:
    """Put a parked job on its queue with ``verdict``; every release of one parking is one message."""
    envelope = record.job
    ack = await publish_job(
        connection, envelope, MessagePurpose.RELEASE, record.generation, verdict=verdict, signature=record.signature
    )
    if ack.duplicate:
        return  # released already, by the other side of a race
    if verdict.verdict is Verdict.MET:  # otherwise the job ends at once (and a cancel's state must stay)
        status = JobStatusRecord(
            job_id=envelope.job_id,
            queue=envelope.queue,
            status=JobStatus.QUEUED,
            attempts=0,
            updated_at=time.time(),
            generation=record.generation,
        )
        await connection.js.publish(kv_key_subject(names.JOB_STATUS_BUCKET, envelope.job_id), status.encode())
    try:  # the dependency_timeout message is not needed any more
        await js_api(
            connection,
            f"STREAM.PURGE.{names.JOBS_STREAM}",
            {"filter": dependency_deadline_subject(envelope.job_id)},
        )
    except Exception as exc:  # harmless: when it fires, it finds the job released and is dropped
        logger.debug("could not remove the dependency deadline of {}: {}", envelope.job_id, exc)
    await announce_jobs(connection, EventKind.RELEASED, [envelope], verdict=verdict.header())
