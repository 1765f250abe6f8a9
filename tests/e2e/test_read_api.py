"""The read API with a worker running (in this process, on real NATS): a worker appearing and
leaving, failed jobs with their tracebacks, ``job_info`` of completed, failed, running and parked
jobs, and the consumer count while a worker runs. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.jetstream_api import consumer_counts
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import (
    ChangeKind,
    JobExecutionError,
    JobLocation,
    JobStatus,
    Queue,
    RemovalReason,
    Settings,
    WorkerChange,
)

WAIT = 15.0
"""Seconds any single wait may take (heartbeats come every 0.5 s, jobs end within a second)."""


@pytest.fixture
async def url(client_env: dict[str, str], test_settings: Settings) -> AsyncIterator[str]:
    """The session server's URL; the module-level API reads the test settings from ``NAQ_*``.

    The sync twins' connection is opened afresh: it would remember streams of earlier tests."""
    naq.client.disconnect_sync()
    yield test_settings.nats_url[0]
    await naq.client.close()
    naq.client.disconnect_sync()


async def next_of(iterator: Any) -> Any:
    """The iterator's next item, within :data:`WAIT` seconds."""
    return await asyncio.wait_for(anext(iterator), WAIT)


async def next_change(watch: Any, kind: ChangeKind) -> WorkerChange:
    """The next change of ``kind`` (heartbeat updates in between are skipped), within :data:`WAIT` s."""

    async def find() -> WorkerChange:
        async for change in watch:
            if change.kind is kind:
                return change
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(find(), WAIT)


async def status_is(job: Any, status: JobStatus) -> bool:
    """Whether ``job`` reads ``status`` now."""
    return await job.status() == status


async def test_a_worker_appears_and_disappears_in_watch_workers(run_worker: WorkerRunner, url: str) -> None:
    async with naq.client.watch_workers(url) as watch:
        assert watch.ready
        assert watch.workers == {}
        async with run_worker("watched", concurrency=2) as worker:
            appeared = await next_change(watch, ChangeKind.APPEARED)
            assert (appeared.worker_id, appeared.initial) == (worker.worker_id, False)
            assert appeared.heartbeat.queues == ("watched",)
            assert appeared.heartbeat.concurrency == 2
            updated = await next_change(watch, ChangeKind.UPDATED)  # the next heartbeat
            assert updated.heartbeat.heartbeat_at >= appeared.heartbeat.heartbeat_at
            assert set(watch.workers) == {worker.worker_id}
        gone = await next_change(watch, ChangeKind.DISAPPEARED)
        assert (gone.worker_id, gone.reason) == (worker.worker_id, RemovalReason.DELETED)
        assert watch.workers == {}

    # A watch opened while the worker runs starts with it (an initial change).
    async with run_worker("watched") as worker, naq.client.watch_workers(url) as watch:
        first = await next_of(watch)
        assert (first.kind, first.worker_id, first.initial) == (ChangeKind.APPEARED, worker.worker_id, True)


async def test_a_failed_job_is_in_failed_jobs_and_job_info_with_its_traceback(
    run_worker: WorkerRunner, url: str, test_settings: Settings, tmp_path: Path
) -> None:
    queue = Queue("failing", settings=test_settings)
    async with (
        naq.client.events(queue="failing", kinds=["failed"], nats_url=url) as failures,
        run_worker("failing") as worker,
    ):
        job = await queue.enqueue("harness.jobs:always_fail", str(tmp_path), "boom")
        with pytest.raises(JobExecutionError):
            await job.result(timeout=WAIT)
        event = await next_of(failures)
        assert (event.kind, event.queue, event.job_id) == ("failed", "failing", job.job_id)

    entries = await async_wait_for(
        lambda: asyncio.to_thread(naq.client.failed_jobs_sync, "failing", url),
        timeout=WAIT,
        what="the job in the dead-letter queue",
    )
    [entry] = entries
    assert (entry.id, entry.queue, entry.raw) == (job.job_id, "failing", False)
    record = entry.record
    assert record.error.type == "harness.jobs:PlannedError"
    assert "Traceback (most recent call last)" in record.error.traceback
    assert "planned failure of boom" in record.error.traceback
    assert record.job.function == "harness.jobs:always_fail"
    assert [e.id async for e in naq.client.failed_jobs(nats_url=url)] == [job.job_id]
    assert [e async for e in naq.client.failed_jobs("other", url)] == []

    info = await naq.client.job_info(job.job_id, url)
    assert (info.status, info.queue, info.function) == (JobStatus.FAILED, "failing", "harness.jobs:always_fail")
    assert (info.stored_in, info.attempts) == (JobLocation.DEAD_LETTER, 1)
    assert info.arguments == ([str(tmp_path), "boom"], {})
    assert info.error is not None
    assert "planned failure of boom" in info.error.traceback
    assert info.worker_id == worker.worker_id
    assert info.failed is not None
    assert info.failed.id == job.job_id
    assert info.started_at is not None
    assert info.finished_at is not None
    assert info.started_at <= info.finished_at

    stats = await naq.client.queue_stats("failing", nats_url=url)
    assert (stats.dead_lettered, stats.pending, stats.in_flight, stats.consumers, stats.workers) == (1, 0, 0, 1, 0)
    assert (stats.delivered, stats.acknowledged) == (1, 1), "one delivery, answered"
    assert "failing" in await naq.client.queues(url)


async def test_job_info_of_a_completed_a_running_and_a_parked_job(
    run_worker: WorkerRunner, url: str, test_settings: Settings, tmp_path: Path, nc: Any
) -> None:
    queue = Queue("lookup", settings=test_settings)
    async with run_worker("lookup", concurrency=2) as worker:
        done = await queue.enqueue("harness.jobs:add", 1, 2)
        assert await done.result(timeout=WAIT) == 3
        completed = await naq.client.job_info(done.job_id, url)
        assert (completed.status, completed.queue, completed.attempts) == (JobStatus.COMPLETED, "lookup", 1)
        assert completed.result is not None
        assert completed.result.value == 3
        assert (completed.error, completed.worker_id) == (None, worker.worker_id)
        assert completed.started_at is not None
        assert completed.finished_at is not None
        assert completed.started_at <= completed.finished_at
        assert (completed.job, completed.function) == (None, None)  # its message is gone; see JobInfo

        held = await queue.enqueue("harness.jobs:run_until_released", str(tmp_path), "held", 60.0)
        try:
            await async_wait_for(lambda: status_is(held, JobStatus.RUNNING), timeout=WAIT, what="the job running")
            child = await queue.enqueue("harness.jobs:add", 5, 6, depends_on=held)

            running = await naq.client.job_info(held.job_id, url)
            assert (running.status, running.worker_id) == (JobStatus.RUNNING, worker.worker_id)
            assert (running.function, running.stored_in) == ("harness.jobs:run_until_released", JobLocation.QUEUE)
            assert running.arguments == ([str(tmp_path), "held", 60.0], {})
            assert running.result is None

            parked = await naq.client.job_info(child.job_id, url)
            assert (parked.status, parked.stored_in, parked.function) == (
                JobStatus.WAITING,
                JobLocation.PARKED,
                "harness.jobs:add",
            )
            assert parked.dependencies == {held.job_id: JobStatus.RUNNING}
            assert parked.waiting_on == (held.job_id,)
            synced = await asyncio.to_thread(naq.client.job_info_sync, child.job_id, url)
            assert (synced.status, synced.dependencies) == (JobStatus.WAITING, parked.dependencies)

            # With a worker running (its own consumers included), reads leave the count as it was.
            baseline = await consumer_counts(nc)
            for _ in range(3):
                await naq.client.job_info(held.job_id, url)
                await held.status()
                await naq.client.list_workers(url)
                await naq.client.queue_stats("lookup", nats_url=url)
                await naq.client.queues(url)
            assert await consumer_counts(nc) == baseline
            stats = await naq.client.queue_stats("lookup", nats_url=url)
            assert (stats.in_flight, stats.pending, stats.parked, stats.workers) == (1, 0, 1, 1)

        finally:
            await asyncio.to_thread(Path(tmp_path, "held.release").touch)  # never left running, whatever failed
        assert await held.result(timeout=WAIT) == "held"
        assert await child.result(timeout=WAIT) == 11
