"""``Job.status()`` and ``naq status`` say what naq knows, and ``unknown`` when it knows nothing (issue 9, item 9).

Before, any id without a record read ``queued``: a mistyped id, a pending ``enqueue_in`` job, a
job deep in nothing at all. Each case runs against the session's real server; workers run in this
process (``run_worker``) and ``naq status`` as a real subprocess, so the worker keeps running
while the command reads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.commands import Ran, run_naq
from harness.waiting import async_wait_for
from harness.worker_processes import running_on
from harness.worker_runner import WorkerRunner
from naq.client import Job, JobStatus, Queue, Settings
from naq.client._cli_common import EXIT_FAILED
from naq.client._job_state import QUEUED_SCAN_LIMIT

DELAYED_RETRY = 3600.0
"""A retry delay long enough to go through a server-side schedule (over the worker's nak limit)."""


@pytest.fixture(autouse=True)
async def _close_connections() -> AsyncIterator[None]:
    """The test loop's naq connections are closed after each test."""
    yield
    await naq.client.close()


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def naq_status(env: dict[str, str], job_id: str, *args: str) -> Ran:
    """``naq status JOB_ID ARGS...``."""
    return await run_naq("status", job_id, *args, env=env)


async def test_a_mistyped_id_reads_unknown_and_the_command_exits_1(
    queue: Queue, naq_env: dict[str, str], test_settings: Settings
) -> None:
    real = await queue.enqueue("harness.jobs:add", 1, 2)  # something on the queue, just not this id
    mistyped = Job(real.job_id[:-1] + "x", queue.name, test_settings)
    assert await mistyped.status() == JobStatus.UNKNOWN
    ran = await naq_status(naq_env, mistyped.job_id)
    assert ran.code == EXIT_FAILED, ran
    assert ran.out == "unknown\n", ran
    assert f"no trace of job {mistyped.job_id}" in ran.err
    assert f"first {QUEUED_SCAN_LIMIT} messages" in ran.err


async def test_a_queued_job_reads_queued_on_its_queue_or_any_queue(
    queue: Queue, naq_env: dict[str, str], test_settings: Settings
) -> None:
    await queue.enqueue_many("harness.jobs:add", [(i, i) for i in range(20)])
    job = await queue.enqueue("harness.jobs:add", 1, 2)
    other = await Queue("emails", settings=test_settings).enqueue("harness.jobs:add", 3, 4)
    assert await job.status() == JobStatus.QUEUED
    assert await other.status() == JobStatus.QUEUED

    for args in ((), ("--queue", "emails")):
        ran = await naq_status(naq_env, other.job_id, *args)
        assert (ran.code, ran.out) == (0, "queued\n"), ran
    ran = await naq_status(naq_env, other.job_id, "--queue", "default")  # not on that one
    assert (ran.code, ran.out) == (EXIT_FAILED, "unknown\n"), ran
    # The job's own handle looks on its own queue only.
    assert await Job(other.job_id, "default", test_settings).status() == JobStatus.UNKNOWN


async def test_a_job_behind_the_scan_limit_reads_unknown(queue: Queue) -> None:
    ahead = await queue.enqueue_many("harness.jobs:add", [(i, 1) for i in range(QUEUED_SCAN_LIMIT)])
    behind = await queue.enqueue("harness.jobs:add", 1, 2)
    assert await ahead[0].status() == JobStatus.QUEUED
    assert await ahead[-1].status() == JobStatus.QUEUED
    assert await behind.status() == JobStatus.UNKNOWN


async def test_an_enqueue_in_job_reads_scheduled_with_its_time(queue: Queue, naq_env: dict[str, str]) -> None:
    before = time.time()
    job = await queue.enqueue_in(600, "harness.jobs:add", 1, 2)
    assert await job.status() == JobStatus.SCHEDULED
    ran = await naq_status(naq_env, job.job_id)
    assert ran.code == 0, ran
    status, at, when = ran.out.split()
    assert (status, at) == ("scheduled", "at")
    run_at = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + 600 - 1 <= run_at <= time.time() + 600

    assert await job.cancel()
    assert await job.status() == JobStatus.CANCELLED


async def test_a_running_job_reads_running(run_worker: WorkerRunner, queue: Queue, client_env: dict[str, str]) -> None:
    async with run_worker():
        job = await queue.enqueue("harness.jobs:async_sleep", 30)
        await async_wait_for(lambda: running_on(job.job_id), timeout=10, interval=0.1, what="job running")
        assert await job.status() == JobStatus.RUNNING
        ran = await naq_status(client_env, job.job_id)
        assert (ran.code, ran.out) == (0, "running\n"), ran
        assert await job.cancel()
        await async_wait_for(lambda: _is(job, JobStatus.CANCELLED), timeout=10, interval=0.1, what="job cancelled")


async def _is(job: Job, status: JobStatus) -> bool:
    return await job.status() == status


async def test_a_retry_waiting_on_a_schedule_reads_retrying_with_its_time(
    run_worker: WorkerRunner, queue: Queue, naq_env: dict[str, str], js: Any, tmp_path: Path
) -> None:
    async with run_worker():
        before = time.time()
        job = await queue.enqueue(
            "harness.jobs:always_fail", str(tmp_path), "retry", max_retries=1, retry_delay=DELAYED_RETRY
        )
        await async_wait_for(lambda: _is(job, JobStatus.RETRYING), timeout=10, interval=0.1, what="job retrying")
    ran = await naq_status(naq_env, job.job_id)
    assert ran.code == 0, ran
    assert ran.out.startswith("retrying, next attempt at "), ran
    next_attempt = datetime.strptime(ran.out.split()[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + DELAYED_RETRY - 1 <= next_attempt <= time.time() + DELAYED_RETRY + 1

    # Once its status record is gone (its TTL is shorter than a long enough delay), the pending
    # retry still reads as scheduled, at the same time.
    await (await js.key_value("naq_job_status")).purge(job.job_id)
    assert await job.status() == JobStatus.SCHEDULED
    ran = await naq_status(naq_env, job.job_id)
    assert (ran.code, ran.out) == (0, f"scheduled at {_utc(next_attempt)}\n"), ran


async def test_a_job_ending_while_it_is_looked_up_is_found(run_worker: WorkerRunner, queue: Queue) -> None:
    # A quick job leaves its queue for its result while the lookup reads one place after another;
    # it must never read as nowhere (job_info: JobNotFoundError) in between.
    async with run_worker(concurrency=4):
        for _ in range(150):
            job = await queue.enqueue("harness.jobs:add", 1, 2)
            info = await naq.client.job_info(job.job_id, queue.settings.nats_url)
            assert info.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED)
            assert await job.result(timeout=10) == 3
