"""Every record naq writes, made too large for a server with an 8 KiB max payload (issue 13).

One table, one row per record kind (the ``KIND`` of every :class:`naq.protocol.Record` subclass):
each row makes its record oversized on a real server started with ``max_payload: 8192`` and checks
the outcome: the record is fitted (an error or a list cut, a batch split) and stored within the
limit, or the write is refused by naq with an error naming the record and the limit, with nothing
half-written; and the component goes on (the next job runs, the connection stays open). The
completeness test fails when a record class is added without a row here.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

import naq.client
from harness.jetstream_api import delete_all_streams
from harness.jobs import add, async_sleep, big_value, fail_hugely
from harness.servers import NatsServer
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import JobExecutionError, JobTooLargeError, MessageTooLargeError, Queue
from naq.client._connection import get_connection
from naq.client._failed import list_failed
from naq.client._kv_cas import kv_write_if
from naq.client._measured import MeasuredJetStream
from naq.client._options import JobOptions, build_envelope
from naq.client._resources import ensure_bucket
from naq.client._schedule_store import read_all_schedules
from naq.protocol import (
    FailedJobRecord,
    JobEnvelope,
    JobStatusRecord,
    LeaderLockRecord,
    ParkedJobRecord,
    Record,
    Settings,
    UndecodableMessageRecord,
    WorkerHeartbeat,
    message_size,
    names,
    resources,
)

LIMIT = 8192
"""The test server's max payload."""

ALLOWED = ("harness",)
"""Modules the workers of these tests may run (the test jobs)."""

NESTED_ONLY = {"error"}
"""Record kinds never written on their own: ``ErrorInfo`` travels inside results and dead letters."""


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A JetStream server whose max payload is 8 KiB (nats-server's default is 1 MiB)."""
    workdir = tmp_path_factory.mktemp("nats-8k")
    config = workdir / "limits.conf"
    config.write_text(f"max_payload: {LIMIT}\n")
    with NatsServer(workdir, name="naq-8k", cluster_args=("--config", str(config))) as server:
        yield server


@pytest.fixture
async def small_nc(small_server: NatsServer) -> AsyncIterator[Any]:
    """A nats-py connection to the 8 KiB server, every stream deleted first."""
    nc = await nats.connect(small_server.url, connect_timeout=5, max_reconnect_attempts=0)
    await delete_all_streams(nc, small_server)
    yield nc
    await nc.close()


@dataclass
class Ctx:
    """What a row's scenario works with."""

    settings: Settings
    nc: Any
    js: Any
    run_worker: WorkerRunner
    queue: Queue
    directory: str


@pytest.fixture
async def ctx(small_nc: Any, small_server: NatsServer, tmp_path: Path) -> AsyncIterator[Ctx]:
    settings = Settings.from_env(
        {},
        nats_url=small_server.url,
        connect_timeout=2.0,
        ack_wait=2.0,
        worker_heartbeat_interval=0.5,
        worker_ttl=2,
    )
    js = small_nc.jetstream()
    runner = WorkerRunner(settings, js)
    try:
        yield Ctx(settings, small_nc, js, runner, Queue(settings=settings), str(tmp_path))
    finally:
        await runner.close()
        await naq.client.close()


def worker(c: Ctx, concurrency: int = 4) -> Any:
    return c.run_worker(concurrency=concurrency, allowed_modules=ALLOWED)


async def stored(c: Ctx, bucket: str, key: str) -> bytes | None:
    """The raw value of ``key`` in ``bucket`` (``None``: no such key or bucket)."""
    try:
        entry = await (await c.js.key_value(bucket)).get(key)
    except (nats.js.errors.BucketNotFoundError, nats.js.errors.KeyNotFoundError, nats.js.errors.NotFoundError):
        return None
    return entry.value


async def events_of(c: Ctx, kind: str) -> list[dict[str, Any]]:
    """A list that fills with the events of ``kind`` on the default queue (raw JSON, and its size)."""
    seen: list[dict[str, Any]] = []

    async def on_event(message: Any) -> None:
        seen.append({"size": len(message.data), **json.loads(message.data)})

    await c.nc.subscribe(f"naq.events.default.{kind}", cb=on_event)
    await c.nc.flush()
    return seen


async def still_works(c: Ctx) -> None:
    """The component goes on: a connection still open, an ordinary job enqueued and run."""
    connection = await get_connection(c.settings)
    assert connection.nc.is_connected, "naq refused the record; the server never had to close the connection"
    job = await c.queue.enqueue(add, 2, 3)
    async with worker(c):
        assert await job.result(timeout=15) == 5


def refused(error: MessageTooLargeError, record: str) -> None:
    """The refusal names the record and the limit, and is naq's (the sizes are set)."""
    assert record in str(error), str(error)
    assert f"{LIMIT} bytes" in str(error), str(error)
    assert error.limit == LIMIT
    assert error.size > LIMIT


# --- one scenario per record kind ------------------------------------------------------------------


async def job_row(c: Ctx) -> None:
    """A job too large: refused at enqueue (``JobTooLargeError``), nothing queued."""
    with pytest.raises(JobTooLargeError) as caught:
        await c.queue.enqueue(add, "x" * LIMIT, 1)
    refused(caught.value, "job ")
    info = await c.js.stream_info(names.JOBS_STREAM)
    assert info.state.messages == 0
    await still_works(c)


async def result_row(c: Ctx) -> None:
    """A return value too large: the job fails for good at once with ``ResultTooLargeError``; its
    failed result fits. An error too large for the result record is cut to fit, saying so."""
    too_big = await c.queue.enqueue(big_value, c.directory, "big", LIMIT, max_retries=2)
    huge_error = await c.queue.enqueue(fail_hugely, c.directory, "huge", 50_000, "message")
    async with worker(c):
        with pytest.raises(JobExecutionError) as caught:
            await too_big.result(timeout=15)
        assert caught.value.error_type == "naq.client:ResultTooLargeError"
        assert f"{LIMIT} bytes" in caught.value.error_message
        with pytest.raises(JobExecutionError) as caught:
            await huge_error.result(timeout=15)
        assert "truncated from 50000 bytes" in caught.value.error_message
    for job in (too_big, huge_error):
        raw = await stored(c, names.RESULTS_BUCKET, job.job_id)
        assert raw is not None
        assert len(raw) <= LIMIT
        assert json.loads(raw)["status"] == "failed"
        assert json.loads(raw)["attempts"] == 1, "never retried: no retry could store it"
    await still_works(c)


async def failed_job_row(c: Ctx) -> None:
    """A job failing for good with a 50 KB error: its dead-letter record keeps the whole job and
    the error cut to fit; its ``failed`` event carries a shorter error, within the limit too."""
    failed = await events_of(c, "failed")
    job = await c.queue.enqueue(fail_hugely, c.directory, "dlq", 50_000, "message")
    async with worker(c):
        with pytest.raises(JobExecutionError):
            await job.result(timeout=15)
        await async_wait_for(lambda: failed, timeout=5, what="the failed event")
    [entry] = [e for e in await list_failed(await get_connection(c.settings)) if e.id == job.job_id]
    assert isinstance(entry.record, FailedJobRecord)
    assert entry.record.job.job_id == job.job_id
    assert entry.record.error.message.endswith("... [truncated from 50000 bytes]")
    assert message_size(entry.record.encode()) <= LIMIT
    [event] = failed
    assert event["size"] <= LIMIT
    assert "truncated" in event["data"]["error"]
    await still_works(c)


async def undecodable_row(c: Ctx) -> None:
    """A message that is not a job and nearly fills a message: dead-lettered raw, its bytes cut to
    fit, with the size and digest of the whole."""
    garbage = b"\xff" + random.Random(13).randbytes(LIMIT - 200)
    async with worker(c):
        ack = await c.js.publish("naq.queue.default", garbage)

        async def dead_lettered() -> list[Any]:
            entries = await list_failed(await get_connection(c.settings))
            return [e for e in entries if e.id == f"_raw.{ack.seq}"]

        [entry] = await async_wait_for(dead_lettered, timeout=15, interval=0.1, what="the raw dead letter")
    record = entry.record
    assert isinstance(record, UndecodableMessageRecord)
    assert record.truncated
    assert record.original_size == len(garbage)
    assert garbage.startswith(base64.b64decode(record.data))
    assert message_size(record.encode()) <= LIMIT
    await still_works(c)


async def event_row(c: Ctx) -> None:
    """A batch event too large (``enqueued`` of 400 jobs: ~10 KB of ids): split into events that
    each fit, together naming every job."""
    enqueued = await events_of(c, "enqueued")
    jobs = await c.queue.enqueue_many(add, [(i, 1) for i in range(400)])
    wanted = {job.job_id for job in jobs}

    def named() -> set[str]:
        return {i for event in enqueued for i in event["data"].get("job_ids", [event.get("job_id")])}

    await async_wait_for(lambda: named() >= wanted, timeout=10, what="every job announced")
    assert len(enqueued) > 1, "split"
    assert all(event["size"] <= LIMIT for event in enqueued)
    assert all(event["data"]["count"] == len(event["data"]["job_ids"]) for event in enqueued)
    await still_works(c)


async def worker_row(c: Ctx) -> None:
    """A heartbeat naming 150 running jobs of 64-character ids (~10 KB): the record lists the
    first of them that fit; the worker stays in the registry, busy, and its jobs complete."""
    ids = [f"{'h' * 60}{i:04d}" for i in range(150)]
    jobs = [await c.queue.enqueue(async_sleep, 3.0, job_id=job_id) for job_id in ids]
    async with worker(c, concurrency=150) as running:

        async def busy() -> WorkerHeartbeat | None:
            raw = await stored(c, names.WORKERS_BUCKET, running.worker_id)
            beat = None if raw is None else WorkerHeartbeat.decode(raw)
            return beat if beat is not None and len(beat.current_jobs) > 50 else None

        beat = await async_wait_for(busy, timeout=10, interval=0.1, what="a heartbeat listing running jobs")
        assert beat.status == "busy"
        assert len(beat.encode()) <= LIMIT
        assert 50 < len(beat.current_jobs) < len(ids), "cut to fit"
        assert set(beat.current_jobs) <= set(ids)
        for job in jobs:
            assert await job.result(timeout=20) is None
    await still_works(c)


async def schedule_row(c: Ctx) -> None:
    """A schedule whose record would not fit once the scheduler adds its bookkeeping (the job
    alone fits): refused at ``schedule()`` naming the schedule, nothing stored."""
    with pytest.raises(MessageTooLargeError) as caught:
        await c.queue.schedule(add, "x" * (LIMIT - 900), 1, interval=60, schedule_id="too-big")
    refused(caught.value, "schedule 'too-big'")
    assert "a schedule record of" in str(caught.value)
    kept = await c.queue.schedule(add, "x" * 100, 1, interval=60, schedule_id="fits")
    assert [record.schedule_id for record, _ in await read_all_schedules(await get_connection(c.settings))] == [
        kept.schedule_id
    ]
    await still_works(c)


async def leader_row(c: Ctx) -> None:
    """The leader lock has bounded fields only: at its widest (a 64-character id, a 255-character
    host name) it is under 1 KiB, and it is written through naq's measured compare-and-set."""
    widest = LeaderLockRecord(
        instance_id="i" * 64, hostname="h" * 255, pid=2**22, acquired_at=9_999_999_999.999, renewed_at=9e9
    )
    assert len(widest.encode()) < 1024
    connection = await get_connection(c.settings)
    await ensure_bucket(connection, resources.scheduler_lock_bucket(c.settings))
    revision = await kv_write_if(
        connection, names.SCHEDULER_LOCK_BUCKET, names.LEADER_LOCK_KEY, widest.encode(), 0, ttl=5
    )
    assert revision is not None
    # Made oversized by hand, the same write is refused by naq, naming the record.
    padded = widest.encode()[:-1] + b',"pad":"' + b"p" * LIMIT + b'"}'
    with pytest.raises(MessageTooLargeError) as caught:
        await kv_write_if(connection, names.SCHEDULER_LOCK_BUCKET, names.LEADER_LOCK_KEY, padded, revision)
    refused(caught.value, "a leader record of")
    await still_works(c)


async def parked_job_row(c: Ctx) -> None:
    """A job that fits a message but not its parked record (the job plus the parking's fields):
    refused at enqueue naming the job and the limit; no waiting key, no status, nothing queued.
    (Every parking message is measured before the first is written; the job's dependency-deadline
    publish, the job with a schedule's headers, is larger still and is the one the error counts.)"""
    dependency = await c.queue.enqueue(add, 1, 1)  # no worker runs: the dependent would park
    settings = c.settings

    def envelope(padding: int) -> JobEnvelope:
        options = JobOptions(job_id="parked-big", depends_on=(dependency.job_id,))
        return build_envelope(add, ("x" * padding, 1), {}, options, "default", settings)

    headers = {names.HEADER_MSG_ID: "parked-big"}
    padding = next(p for p in range(LIMIT, 0, -8) if message_size(envelope(p).encode(), headers) <= LIMIT)
    job = envelope(padding)
    parked = ParkedJobRecord(job=job, generation=time.time_ns(), parked_at=time.time(), deadline=time.time() + 60)
    assert message_size(parked.encode()) > LIMIT, "the test's job must fit alone and not parked"
    with pytest.raises(JobTooLargeError) as caught:
        await c.queue.enqueue(add, "x" * padding, 1, job_id="parked-big", depends_on=[dependency.job_id])
    refused(caught.value, "job parked-big")
    assert await stored(c, names.JOB_STATUS_BUCKET, "parked-big") is None
    assert await stored(c, names.WAITING_BUCKET, f"{dependency.job_id}.parked-big") is None
    assert (await c.js.stream_info(names.JOBS_STREAM)).state.messages == 1  # the dependency alone
    await still_works(c)


async def job_status_row(c: Ctx) -> None:
    """A waiting status lists the dependencies still pending, so it grows with the job's
    ``depends_on``: a job that fits but whose status would not is refused at enqueue with nothing
    written (every parking message, the job's deadline publish and its status included, is measured
    before the first is sent); with 100 dependencies
    the job parks and its status is stored within the limit. (The other statuses, of retries,
    releases and cancels, carry no list: bounded.)"""

    def envelope(count: int) -> JobEnvelope:
        options = JobOptions(job_id="many-deps", depends_on=tuple(f"{'d' * 60}{i:04d}" for i in range(count)))
        return build_envelope(add, (1, 1), {}, options, "default", c.settings)

    headers = {names.HEADER_MSG_ID: "many-deps"}
    count = next(n for n in range(200, 0, -1) if message_size(envelope(n).encode(), headers) <= LIMIT)
    job = envelope(count)
    status = JobStatusRecord(
        job_id=job.job_id, queue="default", status="waiting", attempts=0, updated_at=time.time(),
        waiting_on=job.depends_on, generation=time.time_ns(),
    )  # fmt: skip
    assert message_size(status.encode()) > LIMIT, "the test's job must fit and its status not"
    with pytest.raises(JobTooLargeError) as caught:
        await c.queue.enqueue(add, 1, 1, job_id="many-deps", depends_on=list(job.depends_on))
    refused(caught.value, "job many-deps")  # its parking messages: the deadline's, here, is the first over
    assert await stored(c, names.JOB_STATUS_BUCKET, "many-deps") is None
    assert await stored(c, names.WAITING_BUCKET, f"{job.depends_on[0]}.many-deps") is None

    parked = await c.queue.enqueue(add, 1, 1, job_id="fewer-deps", depends_on=list(job.depends_on[:100]))
    raw = await stored(c, names.JOB_STATUS_BUCKET, parked.job_id)
    assert raw is not None
    assert len(raw) <= LIMIT
    stored_status = JobStatusRecord.decode(raw)
    assert stored_status.status == "waiting"
    assert len(stored_status.waiting_on) == 100
    await still_works(c)


Scenario = Callable[[Ctx], Awaitable[None]]

TABLE: dict[str, Scenario] = {
    "job": job_row,
    "result": result_row,
    "failed_job": failed_job_row,
    "undecodable": undecodable_row,
    "event": event_row,
    "worker": worker_row,
    "schedule": schedule_row,
    "leader": leader_row,
    "parked_job": parked_job_row,
    "job_status": job_status_row,
}
"""Record kind -> the scenario that makes it oversized and checks the outcome."""


def _record_kinds() -> set[str]:
    """The ``KIND`` of every record class naq.protocol defines (subclasses of subclasses too)."""
    kinds, todo = set(), list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("naq.protocol"):
            kinds.add(cls.KIND)
    return kinds


def test_the_table_covers_every_record_kind() -> None:
    assert set(TABLE) | NESTED_ONLY == _record_kinds()


@pytest.mark.parametrize("kind", sorted(TABLE))
async def test_a_record_over_the_max_payload_is_fitted_or_refused_clearly(ctx: Ctx, kind: str) -> None:
    connection = await get_connection(ctx.settings)
    assert connection.nc.max_payload == LIMIT
    # Every KV write and JetStream publish of nats-py goes through this context's measured publish.
    assert isinstance(connection.js, MeasuredJetStream)
    await TABLE[kind](ctx)
