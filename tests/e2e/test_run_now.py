"""Running a schedule now, end to end: a ``naq-scheduler`` and a ``naq-worker`` process run the
schedule; ``run_scheduled_job_now`` adds one run whose result is read back (issue 10).

Clocks: poll 0.25 s (BRIEF §10); deadlines about 5x the figure checked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import naq.client
from harness import jobs
from harness.processes import ProcessGroup
from harness.schedules import SCHEDULER_POLL, schedule_record
from harness.waiting import async_wait_for
from naq.client import JobStatus, Queue, SyncJob, cli

POLL = SCHEDULER_POLL


@pytest.fixture
async def queue(test_settings: Any) -> AsyncIterator[Queue]:
    """The default queue with the test settings; naq's connections closed after."""
    yield Queue(settings=test_settings)
    await naq.client.close()


async def test_the_extra_run_s_result_is_awaitable_and_the_next_due_run_does_not_move(
    served: ProcessGroup, queue: Queue, tmp_path: Path, js: Any
) -> None:
    handle = await queue.schedule(jobs.record_run, str(tmp_path), "hourly", interval=3600, repeat=2)
    before = await schedule_record(js, handle.schedule_id)
    assert before is not None
    job = await queue.run_scheduled_job_now(handle.schedule_id)
    assert await job.result(timeout=20) == "hourly"
    assert await job.status() == JobStatus.COMPLETED
    assert len(jobs.runs(str(tmp_path), "hourly")) == 1
    after = await schedule_record(js, handle.schedule_id)
    assert after == before  # next_run_at, runs (what repeat counts) and status as they were
    assert (after.next_run_at, after.runs, after.repeat) == (before.next_run_at, 0, 2)


async def test_an_extra_run_does_not_count_against_repeat(
    served: ProcessGroup, queue: Queue, tmp_path: Path, js: Any
) -> None:
    handle = await queue.schedule(jobs.record_run, str(tmp_path), "twice", interval=1.5, repeat=2)
    extra = await queue.run_scheduled_job_now(handle.schedule_id)
    assert await extra.result(timeout=20) == "twice"

    async def schedule_done() -> bool:
        return await schedule_record(js, handle.schedule_id) is None and len(jobs.runs(str(tmp_path), "twice")) >= 3

    # Two due runs, 1.5 s apart, then the record is removed: the extra run left both to fire.
    await async_wait_for(schedule_done, timeout=2 * 1.5 + POLL + 20, interval=0.1, what="both due runs")
    assert len(jobs.runs(str(tmp_path), "twice")) == 3
    results = await js.key_value("naq_results")
    ids = [key for key in await results.keys() if key.startswith(f"{handle.schedule_id}-")]
    assert sorted(key.removeprefix(handle.schedule_id)[:2] for key in ids) == ["-n", "-r", "-r"]
    assert extra.job_id in ids


async def test_the_sync_twin_and_the_sync_handle_return_sync_jobs_with_results(
    served: ProcessGroup, queue: Queue, tmp_path: Path
) -> None:
    handle = await queue.schedule(jobs.record_run, str(tmp_path), "sync", interval=3600)
    url = ",".join(queue.settings.nats_url)

    def run_twice() -> list[Any]:
        ran = naq.client.run_scheduled_job_now_sync(handle.schedule_id, url)
        assert isinstance(ran, SyncJob)
        again = naq.client.SyncScheduledJob(handle).run_now(job_id="sync-again")
        return [ran.result(timeout=20), again.result(timeout=20), again.job_id]

    try:
        assert await asyncio.to_thread(run_twice) == ["sync", "sync", "sync-again"]
    finally:
        await asyncio.to_thread(naq.client.disconnect_sync)
    assert len(jobs.runs(str(tmp_path), "sync")) == 2


async def test_naq_job_control_run_now_with_wait_prints_the_result(
    served: ProcessGroup, queue: Queue, tmp_path: Path
) -> None:
    handle = await queue.schedule(jobs.record_run, str(tmp_path), "cli", interval=3600)
    url = ",".join(queue.settings.nats_url)
    command = ["job-control", handle.schedule_id, "run-now", "--wait", "20", "--nats-url", url]
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == "cli"
    assert len(jobs.runs(str(tmp_path), "cli")) == 1
