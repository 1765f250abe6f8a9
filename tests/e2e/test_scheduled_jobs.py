"""Scheduled jobs end to end: a ``naq-scheduler`` and a ``naq-worker`` process, results read back.

Clocks: poll 0.25 s, ack wait 2 s, lock TTL 2 s (BRIEF §10); deadlines about 5x the figure checked.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness import jobs
from harness.processes import ProcessGroup
from harness.schedules import SCHEDULER_POLL
from harness.waiting import async_wait_for
from naq.client import JobCancelledError, Queue

POLL = SCHEDULER_POLL


@pytest.fixture
async def queue(test_settings: Any) -> AsyncIterator[Queue]:
    """The default queue with the test settings; naq's connections closed after."""
    yield Queue(settings=test_settings)
    await naq.client.close()


async def test_enqueue_in_runs_the_job_after_its_delay_and_the_result_is_awaitable(
    served: ProcessGroup, queue: Queue, tmp_path: Path, js: Any
) -> None:
    asked = time.time()
    job = await queue.enqueue_in(2, jobs.record_run, str(tmp_path), "delayed")
    assert await job.result(timeout=2 + POLL + 1 + 20) == "delayed"
    [started] = jobs.runs(str(tmp_path), "delayed")
    assert started >= asked + 2, "ran before its time"
    assert started <= asked + 2 + POLL + 1 + 2, f"ran {started - asked - 2:.2f} s late"
    kv = await js.key_value("naq_scheduled_jobs")
    with pytest.raises(Exception, match="not found"):
        await kv.get(job.job_id)


async def test_an_interval_schedule_with_repeat_three_gives_three_results_under_three_ids(
    served: ProcessGroup, queue: Queue, tmp_path: Path, js: Any
) -> None:
    handle = await queue.schedule(jobs.record_run, str(tmp_path), "every-second", interval=1, repeat=3)

    def three_runs() -> bool:
        return len(jobs.runs(str(tmp_path), "every-second")) >= 3

    await async_wait_for(three_runs, timeout=3 + POLL + 15, interval=0.1, what="three runs")
    results = await js.key_value("naq_results")

    async def three_results() -> list[str] | None:
        keys = [k for k in await results.keys() if k.startswith(f"{handle.schedule_id}-r")]
        return keys if len(keys) >= 3 else None

    keys = await async_wait_for(three_results, timeout=10, interval=0.5, what="three results")
    assert len(set(keys)) == 3
    for key in keys:
        assert await naq.client.fetch_job_result(key, nats_url=queue.settings.nats_url) == "every-second"
    assert not await queue.list_scheduled_jobs()
    assert len(jobs.runs(str(tmp_path), "every-second")) == 3


async def test_cancel_job_before_a_delayed_job_fires_means_it_never_runs(
    served: ProcessGroup, queue: Queue, tmp_path: Path
) -> None:
    job = await queue.enqueue_in(1.5, jobs.record_run, str(tmp_path), "cancelled")
    assert await naq.client.cancel_job(job.job_id, nats_url=queue.settings.nats_url)
    with pytest.raises(JobCancelledError):
        await job.result(timeout=5)
    later = await queue.enqueue_in(0.5, jobs.record_run, str(tmp_path), "marker")
    assert await later.result(timeout=0.5 + POLL + 20) == "marker"
    assert jobs.runs(str(tmp_path), "cancelled") == []
    assert not await queue.cancel_scheduled_job(job.job_id)


async def test_a_scheduled_job_with_depends_on_waits_for_its_dependency(
    served: ProcessGroup, queue: Queue, tmp_path: Path
) -> None:
    parent = await queue.enqueue_in(1.5, jobs.record_run, str(tmp_path), "parent", 1.0)
    child = await queue.enqueue_in(0.2, jobs.record_run, str(tmp_path), "child", depends_on=parent)
    assert await child.result(timeout=30) == "child"
    # record_run writes its line after its sleep: the parent's line marks its end.
    [parent_ended] = jobs.runs(str(tmp_path), "parent")
    [child_ran] = jobs.runs(str(tmp_path), "child")
    assert child_ran >= parent_ended, "the dependent ran before its dependency completed"


async def test_naq_scheduler_with_an_unreachable_server_exits_with_the_connection_code(
    processes: ProcessGroup, naq_env: dict[str, str]
) -> None:
    env = {**naq_env, "NAQ_NATS_URL": "nats://127.0.0.1:1", "NAQ_NATS_CONNECT_TIMEOUT": "1"}
    process = processes.spawn("naq-scheduler", env=env)
    assert process.wait(20) == 3, processes.output(process)
    bad = processes.spawn("naq-scheduler", "--lock-ttl", "1", "--renew-interval", "2", env=naq_env)
    assert bad.wait(20) == 4, processes.output(bad)
