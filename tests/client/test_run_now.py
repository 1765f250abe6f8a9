"""Running a schedule now (issue 10): one extra run, enqueued at once, the schedule left as it was.

No scheduler and no worker here: what the call publishes is read back from the job stream (nothing
consumes it), and the schedule's record from its bucket. The runs themselves, with a worker and a
scheduler, are in tests/e2e/test_run_now.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import naq.client
from harness.jetstream_api import stream_info
from harness.schedules import published_runs, schedule_record
from naq.client import ConfigurationError, Job, JobNotFoundError, Queue, Settings, SyncJob
from naq.client.testing import inline_jobs
from naq.protocol import ScheduleRecord, ScheduleStatus, names

ADD = "harness.jobs:add"


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue (its job stream created, empty) with an hourly schedule ``hourly``
    (repeat 2) and a one-off ``later`` in an hour; naq's connections closed after."""
    queue = Queue(settings=test_settings)
    await queue.purge()
    await queue.schedule(ADD, 1, 2, interval=3600, repeat=2, schedule_id="hourly")
    await queue.enqueue_in(3600, ADD, 3, 4, job_id="later")
    yield queue
    await naq.client.close()


async def _stored(js: Any, schedule_id: str) -> tuple[ScheduleRecord, int]:
    kv = await js.key_value(names.SCHEDULES_BUCKET)
    entry = await kv.get(schedule_id)
    return ScheduleRecord.decode(entry.value), entry.revision


async def _queued(nc: Any) -> int:
    return int((await stream_info(nc, names.JOBS_STREAM))["state"]["messages"])


async def test_run_now_enqueues_one_run_with_its_own_id_and_leaves_the_schedule_as_it_was(
    queue: Queue, js: Any, nc: Any
) -> None:
    before = await _stored(js, "hourly")
    asked = time.time()
    job = await queue.run_scheduled_job_now("hourly")
    assert isinstance(job, Job)
    assert job.queue == "default"
    assert job.job_id.startswith("hourly-n")
    assert asked * 1000 - 1 <= int(job.job_id.removeprefix("hourly-n")) <= time.time() * 1000 + 1
    # One message, its id the run's job id (the run is a new job: its first publish).
    assert await published_runs(nc) == {job.job_id: 1}
    # The record is not written at all: next due run, runs (what repeat counts) and revision stay.
    after = await _stored(js, "hourly")
    assert after == before
    assert (after[0].runs, after[0].repeat, after[0].next_run_at) == (0, 2, before[0].next_run_at)


async def test_each_call_is_a_run_and_a_call_retried_with_its_job_id_is_one(queue: Queue, nc: Any) -> None:
    first = await queue.run_scheduled_job_now("hourly")
    await asyncio.sleep(0.002)  # a later millisecond: the default id is the call's time
    second = await queue.run_scheduled_job_now("hourly")
    assert first.job_id != second.job_id
    retried = [await queue.run_scheduled_job_now("hourly", job_id="manual-1") for _ in range(3)]
    assert {job.job_id for job in retried} == {"manual-1"}
    assert await published_runs(nc) == {first.job_id: 1, second.job_id: 1, "manual-1": 1}


async def test_a_paused_schedule_runs_now_and_stays_paused(queue: Queue, js: Any, nc: Any) -> None:
    await queue.pause_scheduled_job("hourly")
    job = await queue.run_scheduled_job_now("hourly")
    assert await published_runs(nc) == {job.job_id: 1}
    assert (await _stored(js, "hourly"))[0].status == ScheduleStatus.PAUSED


async def test_a_one_off_job_runs_now_under_its_own_id_and_not_again_at_its_time(
    queue: Queue, js: Any, nc: Any
) -> None:
    job = await queue.run_scheduled_job_now("later")
    assert job.job_id == "later"
    assert await published_runs(nc) == {"later": 1}
    assert await schedule_record(js, "later") is None
    with pytest.raises(JobNotFoundError):
        await queue.run_scheduled_job_now("later")  # it is not a scheduled job any more


async def test_the_module_function_and_the_schedule_handle(queue: Queue, test_settings: Settings, nc: Any) -> None:
    url = ",".join(test_settings.nats_url)
    job = await naq.client.run_scheduled_job_now("hourly", nats_url=url, job_id="by-function")
    handle = await queue.schedule(ADD, 5, 6, interval=3600, schedule_id="other")
    from_handle = await handle.run_now()
    assert from_handle.job_id.startswith("other-n")
    assert await published_runs(nc) == {job.job_id: 1, from_handle.job_id: 1}


async def test_the_sync_twin_returns_a_sync_job(queue: Queue, test_settings: Settings, nc: Any) -> None:
    url = ",".join(test_settings.nats_url)
    try:
        ran = await asyncio.to_thread(naq.client.run_scheduled_job_now_sync, "hourly", url, job_id="sync-run")
        assert isinstance(ran, SyncJob)
        assert ran.job_id == "sync-run"
        with pytest.raises(JobNotFoundError):
            await asyncio.to_thread(naq.client.run_scheduled_job_now_sync, "no-such-schedule", url)
    finally:
        await asyncio.to_thread(naq.client.disconnect_sync)
    assert await published_runs(nc) == {"sync-run": 1}


async def test_an_unknown_or_cancelled_schedule_is_job_not_found_and_publishes_nothing(queue: Queue, nc: Any) -> None:
    with pytest.raises(JobNotFoundError, match="no schedule 'no-such-schedule' to run now"):
        await queue.run_scheduled_job_now("no-such-schedule")
    assert await queue.cancel_scheduled_job("hourly")
    with pytest.raises(JobNotFoundError, match="cancelled"):
        await queue.run_scheduled_job_now("hourly")
    assert await _queued(nc) == 0


@pytest.mark.parametrize(
    ("schedule_id", "job_id", "error"),
    [
        ("has:colon", None, ValueError),
        ("", None, ValueError),
        (42, None, ValueError),
        ("hourly", "has.dot", ConfigurationError),
        ("hourly", "x" * 65, ConfigurationError),
        ("later", "own-id", ConfigurationError),  # a one-off runs under its own id
    ],
)
async def test_bad_input_is_a_clear_error_and_changes_nothing(
    queue: Queue, js: Any, nc: Any, schedule_id: Any, job_id: Any, error: type[Exception]
) -> None:
    before = [await _stored(js, "hourly"), await _stored(js, "later")]
    with pytest.raises(error):
        await queue.run_scheduled_job_now(schedule_id, job_id=job_id)
    assert await _queued(nc) == 0
    assert [await _stored(js, "hourly"), await _stored(js, "later")] == before


async def test_in_test_mode_the_run_runs_inline_and_the_schedule_stays() -> None:
    with inline_jobs() as runner:
        handle = await naq.client.schedule(ADD, 2, 3, interval=60, repeat=1, schedule_id="inline")
        before = runner.schedules["inline"]
        job = await naq.client.run_scheduled_job_now("inline")
        assert await job.result() == 5
        assert job.job_id.startswith("inline-n")
        assert runner.ran == [job.job_id]
        assert runner.schedules["inline"] == before
        assert (await handle.run_now(job_id="again")).job_id == "again"
        with pytest.raises(JobNotFoundError):
            await naq.client.run_scheduled_job_now("no-such-schedule")
