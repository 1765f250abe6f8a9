"""The registry follows a worker's work within a second (issue 9, item 10).

A worker's record used to change only with its regular heartbeat (every 5 s by default), so
``list-workers`` showed ``idle running=0/2`` while two jobs ran. A worker now sends one extra
heartbeat, at most once a second, when the set of its running jobs changed: never a KV write per
job. The regular heartbeat is 30 s here, so it cannot pass the test by chance; deadlines are 5 s
for a figure of 1 s (BRIEF §10).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import spawn_worker, wait_registered, worker_logs
from naq.client import Queue
from naq.protocol import WorkerHeartbeat

SLOW_BEAT = {"NAQ_WORKER_HEARTBEAT_INTERVAL": "30", "NAQ_WORKER_TTL": "90"}
REGULAR_INTERVAL = 30.0


@pytest.fixture
async def env(naq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, str]]:
    """Worker and test client settings with a 30 s heartbeat; the client's connections close after."""
    slow = {**naq_env, **SLOW_BEAT}
    for key, value in slow.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    yield slow
    await naq.client.close()


async def _record(worker_id: str) -> WorkerHeartbeat | None:
    for worker in await naq.client.list_workers():
        if worker.worker_id == worker_id:
            return worker
    return None


async def test_list_workers_shows_running_jobs_and_idle_again_within_seconds(
    env: dict[str, str], processes: ProcessGroup, tmp_path: Path
) -> None:
    worker = spawn_worker(processes, env, "follower", "--allow-module", "harness", concurrency=2)
    await wait_registered(processes, {"follower": worker})
    first = await _record("follower")
    assert first is not None
    assert first.status == "idle"

    jobs = await Queue("default").enqueue_many("harness.jobs:run_until_released", [[str(tmp_path), t] for t in "ab"])
    ids = {job.job_id for job in jobs}

    async def shows_both_running() -> WorkerHeartbeat | None:
        record = await _record("follower")
        return record if record and record.status == "busy" and set(record.current_jobs) == ids else None

    try:
        busy = await async_wait_for(shows_both_running, timeout=5, interval=0.1, what="both jobs in the registry")
    except TimeoutError as exc:
        record = await _record("follower")
        raise AssertionError(f"{exc}; record: {record}\n{worker_logs(processes, [worker])}") from None
    assert busy.heartbeat_at - first.heartbeat_at < REGULAR_INTERVAL, "not the regular heartbeat"

    for tag in "ab":
        (tmp_path / f"{tag}.release").touch()
    assert await asyncio.gather(*(job.result(timeout=10) for job in jobs)) == ["a", "b"]

    async def shows_idle() -> WorkerHeartbeat | None:
        record = await _record("follower")
        return record if record and record.status == "idle" and not record.current_jobs else None

    try:
        idle = await async_wait_for(shows_idle, timeout=5, interval=0.1, what="the worker idle in the registry")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; record: {await _record('follower')}") from None
    assert idle.heartbeat_at - first.heartbeat_at < REGULAR_INTERVAL, "not the regular heartbeat"
    assert idle.processed == 2
    assert (idle.processed_by_queue, idle.failed_by_queue) == ({"default": 2}, {})


async def test_a_burst_of_jobs_costs_at_most_one_heartbeat_a_second(
    env: dict[str, str], processes: ProcessGroup, nc: Any
) -> None:
    worker = spawn_worker(processes, env, "coalescer", "--allow-module", "harness", concurrency=4)
    await wait_registered(processes, {"coalescer": worker})
    beats: list[float] = []

    async def on_beat(message: Any) -> None:
        beats.append(time.monotonic())

    subscription = await nc.subscribe("$KV.naq_workers.coalescer", cb=on_beat)
    try:
        started = time.monotonic()
        jobs = await Queue("default").enqueue_many("harness.jobs:add", [[i, 1] for i in range(300)])
        await asyncio.gather(*(job.result(timeout=30) for job in jobs))
        record = await async_wait_for(_idle_after_burst, timeout=5, interval=0.1, what="idle after the burst")
        elapsed = time.monotonic() - started
        await nc.flush()
    finally:
        await subscription.unsubscribe()
    assert record.processed == 300
    # One beat per started second of the burst at most, plus the one that reports it idle again.
    assert 1 <= len(beats) <= math.ceil(elapsed) + 1, f"{len(beats)} heartbeats in {elapsed:.2f} s for 300 jobs"


async def _idle_after_burst() -> WorkerHeartbeat | None:
    record = await _record("coalescer")
    return record if record and record.processed == 300 and not record.current_jobs else None
