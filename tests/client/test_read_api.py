"""The read API against a real server, with no worker: discovery, queue figures, live events and
schedules, bad input, a server that goes away, and the consumer count after every read.

What needs a worker (a worker appearing and leaving, failed, running and completed jobs) is in
tests/e2e/test_read_api.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.jetstream_api import consumer_counts, create_consumer, create_stream
from harness.servers import NatsServer
from naq.client import (
    ChangeKind,
    EventKind,
    JobLocation,
    JobNotFoundError,
    JobStatus,
    NaqConnectionError,
    Queue,
    RemovalReason,
    ScheduleRecord,
    ScheduleStatus,
    Settings,
    WorkerHeartbeat,
)
from naq.protocol import JobEnvelope, WorkerStatus, resources
from naq.protocol.subjects import delayed_subject, queue_subject, schedule_at

WAIT = 10.0
"""Seconds any single wait for a change or an event may take (the events arrive within ms)."""


@pytest.fixture
async def url(test_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The session server's URL, with the module-level API reading the test settings from ``NAQ_*``
    (so the buckets it creates have the tests' short clocks); naq's connections closed after."""
    for key, value in test_settings.as_env().items():
        monkeypatch.setenv(key, value)
    naq.client.disconnect_sync()  # the sync twins' connection would remember streams of earlier tests
    yield test_settings.nats_url[0]
    await naq.client.close()
    naq.client.disconnect_sync()


async def next_of(iterator: Any) -> Any:
    """The iterator's next item, within :data:`WAIT` seconds."""
    return await asyncio.wait_for(anext(iterator), WAIT)


async def delayed_retry(js: Any, queue: str, job_id: str, at: float) -> None:
    """A job's next attempt waiting on a server-side schedule, published as a worker does."""
    job = JobEnvelope(job_id=job_id, queue=queue, function="harness.jobs:add", payload={}, enqueued_at=1)
    headers = {
        "Nats-Schedule": schedule_at(at),
        "Nats-Schedule-Target": queue_subject(queue),
        "Nats-Msg-Id": f"{job_id}.retry.2",
    }
    await js.publish(delayed_subject(job_id, 2), job.encode(), headers=headers)


# --- discovery and figures ---------------------------------------------------------------------


async def test_queues_are_found_by_their_jobs_their_consumer_and_their_events(
    url: str, test_settings: Settings, nc: Any
) -> None:
    assert await naq.client.queues(url) == []
    await create_stream(nc, resources.events_stream(test_settings))  # as the first worker does
    await Queue("emails", settings=test_settings).enqueue("harness.jobs:add", 1, 2)
    reports = Queue("reports", settings=test_settings)
    await reports.enqueue("harness.jobs:add", 1, 2)
    await reports.purge()  # nothing waits on it now; its events still name it
    await create_consumer(nc, resources.queue_consumer("idle", test_settings))  # served once, empty now
    assert await naq.client.queues(url) == ["emails", "idle", "reports"]


async def test_queue_stats_counts_a_backlog_a_parked_dependent_and_a_delayed_retry(
    url: str, test_settings: Settings, js: Any, nc: Any
) -> None:
    queue = Queue("backlog", settings=test_settings)
    before = time.time()
    jobs = await queue.enqueue_many("harness.jobs:add", [(i, i) for i in range(5)])
    await queue.enqueue("harness.jobs:add", 0, 0, depends_on=jobs[0])  # parked: jobs[0] has not run
    await Queue("other", settings=test_settings).enqueue("harness.jobs:add", 0, 0, depends_on="never")
    await delayed_retry(js, "backlog", "retried", time.time() + 3600)
    await delayed_retry(js, "other", "retried-elsewhere", time.time() + 3600)

    stats = await naq.client.queue_stats("backlog", nats_url=url)
    assert (stats.queue, stats.pending, stats.in_flight, stats.redelivered) == ("backlog", 5, 0, 0)
    assert (stats.parked, stats.delayed, stats.dead_lettered, stats.consumers, stats.workers) == (1, 1, 0, 0, 0)
    assert stats.oldest_pending_at is not None
    assert before - 1 <= stats.oldest_pending_at <= stats.at
    assert stats.oldest_pending_age is not None
    assert 0 <= stats.oldest_pending_age <= stats.at - before + 1

    # Once a worker's consumer exists (none runs), pending comes from it, and it is counted.
    await create_consumer(nc, resources.queue_consumer("backlog", test_settings))
    stats = await naq.client.queue_stats("backlog", nats_url=url)
    assert (stats.pending, stats.in_flight, stats.consumers) == (5, 0, 1)

    empty = await naq.client.queue_stats("nothing-here", nats_url=url)
    assert (empty.pending, empty.parked, empty.delayed, empty.oldest_pending_at) == (0, 0, 0, None)
    assert empty.oldest_pending_age is None


async def test_job_info_of_a_queued_and_of_a_parked_job(url: str, test_settings: Settings) -> None:
    queue = Queue("info", settings=test_settings)
    parent = await queue.enqueue("harness.jobs:add", 1, 2)
    child = await queue.enqueue("harness.jobs:add", 3, b=4, depends_on=parent)

    queued = await naq.client.job_info(parent.job_id, url)
    assert (queued.status, queued.queue, queued.function) == (JobStatus.QUEUED, "info", "harness.jobs:add")
    assert (queued.stored_in, queued.arguments, queued.attempts) == (JobLocation.QUEUE, ([1, 2], {}), 0)
    assert queued.result is None
    assert queued.error is None
    assert queued.enqueued_at is not None

    parked = await naq.client.job_info(child.job_id, url)
    assert (parked.status, parked.stored_in) == (JobStatus.WAITING, JobLocation.PARKED)
    assert parked.arguments == ([3], {"b": 4})
    assert parked.dependencies == {parent.job_id: JobStatus.QUEUED}
    assert parked.waiting_on == (parent.job_id,)
    assert parked.job is not None
    assert parked.job.depends_on == (parent.job_id,)


async def test_job_info_of_a_scheduled_one_off_job(url: str, test_settings: Settings) -> None:
    job = await Queue("later", settings=test_settings).enqueue_in(3600, "harness.jobs:add", 1, 2)
    info = await naq.client.job_info(job.job_id, url)
    assert (info.status, info.stored_in) == (JobStatus.SCHEDULED, JobLocation.SCHEDULE)
    assert info.function == "harness.jobs:add"
    assert info.run_at is not None
    assert info.run_at > time.time() + 3000


@pytest.mark.parametrize("count", [300, 1100])
async def test_reads_of_a_large_bucket_page_through_every_record(
    url: str, test_settings: Settings, js: Any, count: int
) -> None:
    """300 records take two direct-get batches; 1,100 are more than one get may match (1,024), so
    they are named by a subject listing first and read in chunks."""
    await naq.client.list_scheduled_jobs(nats_url=url)  # the bucket, as naq creates it
    job = JobEnvelope(job_id="template", queue="big", function="harness.jobs:add", payload={}, enqueued_at=1)
    for i in range(count):
        record = ScheduleRecord(
            schedule_id=f"s{i:05d}",
            job=dataclasses.replace(job, job_id=f"s{i:05d}"),
            next_run_at=2e9 + i,
            created_at=1,
        )
        await js.publish(f"$KV.naq_scheduled_jobs.s{i:05d}", record.encode())
    listed = await naq.client.list_scheduled_jobs(nats_url=url)
    assert [record.schedule_id for record in listed] == [f"s{i:05d}" for i in range(count)]


# --- bad input ---------------------------------------------------------------------------------


async def test_bad_input_is_refused_at_the_call(url: str) -> None:
    with pytest.raises(ValueError, match="invalid queue name"):
        await naq.client.queue_stats("no spaces", nats_url=url)
    with pytest.raises(ValueError, match="reserved"):
        await naq.client.queue_stats("_sys", nats_url=url)
    with pytest.raises(ValueError, match="invalid job id"):
        await naq.client.job_info("not/an/id", url)
    with pytest.raises(ValueError, match="invalid queue name"):
        naq.client.failed_jobs("a.b", url)
    with pytest.raises(ValueError, match="invalid queue name"):
        naq.client.events(queue="a b", nats_url=url)
    with pytest.raises(ValueError, match="unknown event kind 'finished'"):
        naq.client.events(kinds=["completed", "finished"], nats_url=url)
    with pytest.raises(ValueError, match="at least one"):
        naq.client.events(kinds=[], nats_url=url)
    with pytest.raises(ValueError, match="since"):
        naq.client.events(since="yesterday", nats_url=url)  # type: ignore[arg-type]
    with pytest.raises(JobNotFoundError, match="no trace of job 'never-enqueued'"):
        await naq.client.job_info("never-enqueued", url)


# --- iterators ---------------------------------------------------------------------------------


async def test_events_are_filtered_by_queue_and_kind(url: str, test_settings: Settings) -> None:
    a, b = Queue("qa", settings=test_settings), Queue("qb", settings=test_settings)
    async with (
        naq.client.events(queue="qa", nats_url=url) as of_a,
        naq.client.events(kinds=EventKind.WAITING, nats_url=url) as waiting,
        naq.client.events(queue="qb", kinds=["enqueued"], nats_url=url) as enqueued_on_b,
    ):
        on_a = await a.enqueue("harness.jobs:add", 1, 2)
        on_b = await b.enqueue("harness.jobs:add", 1, 2)
        parked_b = await b.enqueue("harness.jobs:add", 1, 2, depends_on=on_b)
        parked_a = await a.enqueue("harness.jobs:add", 1, 2, depends_on=on_a)

        seen_a = [await next_of(of_a), await next_of(of_a)]
        assert [(e.queue, e.kind, e.job_id) for e in seen_a] == [
            ("qa", "enqueued", on_a.job_id),
            ("qa", "waiting", parked_a.job_id),
        ]
        seen_waiting = [await next_of(waiting), await next_of(waiting)]
        assert [(e.queue, e.job_id) for e in seen_waiting] == [("qb", parked_b.job_id), ("qa", parked_a.job_id)]
        first = await next_of(enqueued_on_b)
        assert (first.queue, first.kind, first.job_id) == ("qb", "enqueued", on_b.job_id)

        # Nothing else was delivered: the next of each is a job enqueued after them all.
        last_a = await a.enqueue("harness.jobs:add", 0, 0)
        last_b = await b.enqueue("harness.jobs:add", 0, 0)
        assert (await next_of(of_a)).job_id == last_a.job_id
        assert (await next_of(enqueued_on_b)).job_id == last_b.job_id


async def test_events_since_a_time_replay_what_is_kept_then_follow(url: str, test_settings: Settings, nc: Any) -> None:
    await create_stream(nc, resources.events_stream(test_settings))
    queue = Queue("replayed", settings=test_settings)
    start = time.time() - 1
    earlier = await queue.enqueue("harness.jobs:add", 1, 2)
    async with naq.client.events(queue="replayed", since=start, nats_url=url) as stream:
        assert (await next_of(stream)).job_id == earlier.job_id
        later = await queue.enqueue("harness.jobs:add", 1, 2)
        assert (await next_of(stream)).job_id == later.job_id
    async with naq.client.events(queue="replayed", nats_url=url) as fresh:  # from new events only
        newest = await queue.enqueue("harness.jobs:add", 1, 2)
        assert (await next_of(fresh)).job_id == newest.job_id


async def test_a_paused_schedule_shows_paused_in_watch_schedules(url: str, test_settings: Settings) -> None:
    queue = Queue("timed", settings=test_settings)
    existing = await queue.schedule("harness.jobs:add", 1, 2, interval=3600, schedule_id="existing")
    async with naq.client.watch_schedules(url) as watch:
        change = await next_of(watch)
        assert (change.kind, change.schedule_id, change.initial) == (ChangeKind.APPEARED, "existing", True)
        assert watch.ready
        created = await queue.schedule("harness.jobs:add", 3, 4, interval=3600, schedule_id="created")
        change = await next_of(watch)
        assert (change.kind, change.schedule_id, change.initial) == (ChangeKind.APPEARED, "created", False)
        assert change.record.status == ScheduleStatus.ACTIVE

        assert await created.pause()
        change = await next_of(watch)
        assert (change.kind, change.schedule_id, change.record.status) == (
            ChangeKind.UPDATED,
            "created",
            ScheduleStatus.PAUSED,
        )
        assert watch.schedules["created"].status == ScheduleStatus.PAUSED

        assert await existing.cancel()
        change = await next_of(watch)
        assert (change.kind, change.schedule_id, change.reason) == (
            ChangeKind.DISAPPEARED,
            "existing",
            RemovalReason.DELETED,
        )
        assert change.record.schedule_id == "existing"  # the last record seen
        assert set(watch.schedules) == {"created"}


async def test_a_worker_whose_heartbeats_stop_expires_in_watch_workers(
    url: str, test_settings: Settings, js: Any
) -> None:
    async with naq.client.watch_workers(url) as watch:
        assert watch.ready
        assert watch.workers == {}
        now = time.time()
        beat = WorkerHeartbeat(
            worker_id="gone-quiet",
            hostname="h",
            pid=1,
            queues=("default",),
            status=WorkerStatus.IDLE,
            concurrency=1,
            started_at=now,
            heartbeat_at=now,
        )
        await js.publish("$KV.naq_workers.gone-quiet", beat.encode())  # one beat, then silence
        change = await next_of(watch)
        assert (change.kind, change.worker_id, change.heartbeat) == (ChangeKind.APPEARED, "gone-quiet", beat)
        # The bucket expires a record NAQ_WORKER_TTL (2 s in tests) after its last beat.
        change = await next_of(watch)
        assert (change.kind, change.worker_id, change.reason) == (
            ChangeKind.DISAPPEARED,
            "gone-quiet",
            RemovalReason.EXPIRED,
        )
        assert change.at - now >= test_settings.worker_ttl - 0.5
        assert watch.workers == {}


async def test_an_iterator_ends_with_naq_connection_error_when_the_server_goes_away(url: str, tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "own-server")
    server.start()
    try:
        server.wait_healthy()
        stream = naq.client.events(nats_url=server.url)  # NAQ_NATS_CONNECT_TIMEOUT is 2 s here
        async with stream:
            await Queue("x", server.url).enqueue("harness.jobs:add", 1, 2)
            assert (await next_of(stream)).kind == "enqueued"
            server.stop()
            started = time.monotonic()
            with pytest.raises(NaqConnectionError, match="lost the connection"):
                await asyncio.wait_for(anext(stream), 20)
            assert time.monotonic() - started < 15
            with pytest.raises(StopAsyncIteration):  # closed by the failure
                await anext(stream)
    finally:
        server.stop()
        # Closing a connection whose server is gone raises from nats-py's final flush (not ours).
        with contextlib.suppress(ConnectionError):
            await naq.client.close()


# --- consumers ---------------------------------------------------------------------------------


async def test_no_read_leaves_a_consumer_behind(url: str, test_settings: Settings, nc: Any) -> None:
    queue = Queue(settings=test_settings)
    parent = await queue.enqueue("harness.jobs:add", 1, 2)
    child = await queue.enqueue("harness.jobs:add", 1, 2, depends_on=parent)
    await queue.schedule("harness.jobs:add", 1, 2, interval=3600)
    for spec in resources.all_streams(test_settings):  # every stream naq uses, as a worker makes them
        await create_stream(nc, spec)
    baseline = await consumer_counts(nc)
    assert set(baseline) >= {"naq_jobs", "naq_events", "naq_failed_jobs", "KV_naq_workers", "KV_naq_scheduled_jobs"}

    one_shot = {
        "queues": lambda: naq.client.queues(url),
        "queue_stats": lambda: naq.client.queue_stats(nats_url=url),
        "job_info (queued)": lambda: naq.client.job_info(parent.job_id, url),
        "job_info (parked)": lambda: naq.client.job_info(child.job_id, url),
        "list_workers": lambda: naq.client.list_workers(url),
        "Job.status": parent.status,
        "list_scheduled_jobs": lambda: naq.client.list_scheduled_jobs(nats_url=url),
    }
    for name, read in one_shot.items():
        for _ in range(3):
            await read()
        assert await consumer_counts(nc) == baseline, name
    assert [entry async for entry in naq.client.failed_jobs(nats_url=url)] == []
    assert await consumer_counts(nc) == baseline, "failed_jobs"

    iterators = {
        "watch_workers": ("KV_naq_workers", lambda: naq.client.watch_workers(url)),
        "watch_schedules": ("KV_naq_scheduled_jobs", lambda: naq.client.watch_schedules(url)),
        "events": ("naq_events", lambda: naq.client.events(nats_url=url)),
    }
    for name, (stream, open_it) in iterators.items():
        async with open_it():
            assert await consumer_counts(nc) == {**baseline, stream: baseline[stream] + 1}, name
        assert await consumer_counts(nc) == baseline, f"{name} after async with"
        iterator = open_it()
        with contextlib.suppress(TimeoutError):  # the first wait opens it; a cancelled wait leaves it open
            await asyncio.wait_for(anext(iterator), 0.5)
        assert await consumer_counts(nc) == {**baseline, stream: baseline[stream] + 1}, f"{name} iterated"
        await iterator.aclose()
        assert await consumer_counts(nc) == baseline, f"{name} after aclose"


# --- sync twins --------------------------------------------------------------------------------


async def test_the_sync_twins_read_the_same(url: str, test_settings: Settings) -> None:
    queue = Queue("synced", settings=test_settings)
    job = await queue.enqueue("harness.jobs:add", 1, 2)
    assert await asyncio.to_thread(naq.client.queues_sync, url) == ["synced"]
    stats = await asyncio.to_thread(naq.client.queue_stats_sync, "synced", url)
    assert (stats.queue, stats.pending) == ("synced", 1)
    info = await asyncio.to_thread(naq.client.job_info_sync, job.job_id, url)
    assert (info.status, info.arguments) == (JobStatus.QUEUED, ([1, 2], {}))
    assert await asyncio.to_thread(naq.client.failed_jobs_sync, "synced", url) == []
    with pytest.raises(JobNotFoundError):
        await asyncio.to_thread(naq.client.job_info_sync, "missing-job", url)
    with pytest.raises(ValueError, match="invalid queue name"):
        naq.client.failed_jobs_sync("bad name", url)
    with pytest.raises(ValueError, match="invalid queue name"):
        await asyncio.to_thread(naq.client.queue_stats_sync, "bad name", url)


async def test_events_wait_bounded(url: str, test_settings: Settings) -> None:
    """A filter that matches nothing delivers nothing (and a bounded wait says so)."""
    async with naq.client.events(queue="silent", nats_url=url) as stream:
        await Queue("noisy", settings=test_settings).enqueue("harness.jobs:add", 1, 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), 1.0)
