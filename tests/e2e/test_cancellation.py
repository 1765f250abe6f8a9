"""Acceptance tests of job cancellation (issue 4), with in-process workers on real NATS.

``cancel_job`` (and ``Job.cancel``, ``cancel_job_sync``, ``naq cancel``) ends a queued or parked
job without running it, interrupts a running async job at its next ``await``, and flags a running
sync job through ``ctx.cancelled``; every one of them ends with a cancelled result, and their
dependents fail with ``DependencyFailedError``. Deadlines are about five times the stated figures
(BRIEF §10): "interrupted within about a second" is asserted as within 5 s.

The job functions defined here are imported by the in-process workers by reference
(``tests.e2e.test_cancellation:<name>``), which works because the worker runs in this process,
where pytest has already imported this module.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

import naq.client
from harness.jobs import add, always_fail, fail_times, record_run, runs
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import wait_consumer_drained
from harness.worker_runner import WorkerRunner, holds_for
from naq.client import (
    DependencyFailedError,
    JobCancelledError,
    JobExecutionError,
    JobStatus,
    Queue,
)
from naq.protocol.subjects import waiting_key

MAX_JOB_SECONDS = 20.0
"""Longest any job below runs if it is never cancelled (bounds their loops and sleeps)."""


# --- job functions (imported by the in-process worker from this module) ---------------------------


def _mark(directory: str, name: str, text: str = "") -> None:
    with Path(directory, name).open("a") as file:
        file.write(f"{time.time()} {text}\n")


def _marks(directory: str, name: str) -> list[str]:
    path = Path(directory, name)
    return path.read_text().splitlines() if path.exists() else []


async def async_mark_then_sleep(directory: str, tag: str, seconds: float) -> str:
    """Mark ``<tag>-started``, sleep (async), then record a run of ``tag``; marks an interruption."""
    _mark(directory, f"{tag}-started")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _mark(directory, f"{tag}-interrupted")
        raise
    return record_run(directory, tag)


def sync_until_cancelled(ctx: Any, directory: str, tag: str, max_seconds: float) -> str:
    """Mark ``<tag>-started``, then poll ``ctx.cancelled`` (bounded by ``max_seconds``) and note what it saw."""
    _mark(directory, f"{tag}-started")
    deadline = time.monotonic() + max_seconds
    for _ in range(int(max_seconds / 0.02) + 2):
        if ctx.cancelled or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    _mark(directory, f"{tag}-ended", "cancelled" if ctx.cancelled else "expired")
    return tag


def sync_mark_then_sleep(directory: str, tag: str, seconds: float) -> str:
    """Mark ``<tag>-started``, sleep (blocking, ignoring any cancel), then record a run of ``tag``."""
    _mark(directory, f"{tag}-started")
    time.sleep(seconds)
    return record_run(directory, tag)


# --- helpers ----------------------------------------------------------------------------------------


async def expect_cancelled(job: naq.client.Job, timeout: float) -> JobCancelledError:
    with pytest.raises(JobCancelledError) as caught:
        await job.result(timeout=timeout)
    assert isinstance(caught.value, JobExecutionError)
    assert caught.value.job_id == job.job_id
    return caught.value


async def expect_dependency_failed(job: naq.client.Job, dependency: naq.client.Job, timeout: float) -> None:
    with pytest.raises(DependencyFailedError, match=dependency.job_id):
        await job.result(timeout=timeout)
    assert await job.status() == JobStatus.FAILED


async def is_running(job: naq.client.Job) -> bool:
    return await job.status() == JobStatus.RUNNING


async def is_retrying(job: naq.client.Job) -> bool:
    return await job.status() == JobStatus.RETRYING


async def started(directory: Path, tag: str) -> None:
    await async_wait_for(lambda: _marks(str(directory), f"{tag}-started"), timeout=15, what=f"job {tag} started")


# --- queued ---------------------------------------------------------------------------------------


async def test_a_cancelled_queued_job_never_runs(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, js: Any, nats_url: str
) -> None:
    directory = str(tmp_path)
    job = await queue.enqueue(record_run, directory, "cancelled")
    assert await job.status() == JobStatus.QUEUED
    assert await naq.client.cancel_job(job.job_id, nats_url=nats_url) is True
    assert await job.status() == JobStatus.CANCELLED
    await expect_cancelled(job, timeout=5)

    async with run_worker(concurrency=4) as worker:
        marker = await queue.enqueue(record_run, directory, "marker")
        assert await marker.result(timeout=15) == "marker"
        # The cancelled job's message was delivered too, and ended without running (acked, not left).
        await wait_consumer_drained(js, 10, "the queue drained")
        assert not run_worker.task(worker).done()

    assert runs(directory, "cancelled") == []
    assert len(runs(directory, "marker")) == 1
    await expect_cancelled(job, timeout=5)
    assert await job.status() == JobStatus.CANCELLED


# --- running --------------------------------------------------------------------------------------


async def test_a_running_async_job_is_interrupted_and_its_dependent_fails(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    async with run_worker(concurrency=4) as worker:
        job = await queue.enqueue(async_mark_then_sleep, directory, "long", MAX_JOB_SECONDS)
        dependent = await queue.enqueue(record_run, directory, "dependent", depends_on=job)
        await started(tmp_path, "long")
        # Running is seen through the worker's heartbeats (every 0.5 s with the test clocks).
        await async_wait_for(lambda: is_running(job), timeout=5, interval=0.1, what="the job reads as running")
        assert await dependent.status() == JobStatus.WAITING

        began = time.monotonic()
        assert await job.cancel() is True
        await expect_cancelled(job, timeout=10)
        elapsed = time.monotonic() - began
        assert elapsed < 5, f"the running async job took {elapsed:.1f} s to end cancelled"
        assert len(_marks(directory, "long-interrupted")) == 1, "CancelledError reached the job's await"
        assert await job.status() == JobStatus.CANCELLED

        await expect_dependency_failed(dependent, job, timeout=10)

        # The worker goes on: a later job completes.
        later = await queue.enqueue(record_run, directory, "later")
        assert await later.result(timeout=15) == "later"
        assert not run_worker.task(worker).done()

    assert runs(directory, "long") == [], "the cancelled job ran to its end"
    assert runs(directory, "dependent") == []
    assert len(runs(directory, "later")) == 1


async def test_a_running_sync_job_sees_ctx_cancelled_and_returns_early(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, nats_url: str
) -> None:
    directory = str(tmp_path)
    # One slot: the job after it runs only if the cancelled sync job gave its slot back.
    async with run_worker(concurrency=1) as worker:
        job = await queue.enqueue(sync_until_cancelled, directory, "coop", MAX_JOB_SECONDS)
        await started(tmp_path, "coop")
        began = time.monotonic()
        assert await naq.client.cancel_job(job.job_id, nats_url=nats_url) is True
        await expect_cancelled(job, timeout=10)
        elapsed = time.monotonic() - began
        assert elapsed < 5, f"the cooperating sync job took {elapsed:.1f} s to end cancelled"
        [ended] = _marks(directory, "coop-ended")
        assert ended.endswith(" cancelled"), f"the job did not see ctx.cancelled: {ended!r}"
        assert await job.status() == JobStatus.CANCELLED

        later = await queue.enqueue(record_run, directory, "later")
        assert await later.result(timeout=15) == "later"
        assert not run_worker.task(worker).done()


async def test_a_running_sync_job_that_ignores_the_cancel_still_ends_cancelled(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    async with run_worker(concurrency=2):
        job = await queue.enqueue(sync_mark_then_sleep, directory, "stubborn", 1.5)
        dependent = await queue.enqueue(record_run, directory, "dependent", depends_on=job)
        await started(tmp_path, "stubborn")
        assert await job.cancel() is True
        # A thread cannot be interrupted: it returns after its 1.5 s, and its outcome is cancelled.
        await expect_cancelled(job, timeout=10)
        assert len(runs(directory, "stubborn")) == 1
        await expect_dependency_failed(dependent, job, timeout=10)
    assert runs(directory, "dependent") == []


async def test_a_job_waiting_for_its_retry_is_cancelled_and_not_run_again(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    async with run_worker(concurrency=2):
        # Fails on each of its first 5 runs; after the first, it waits 2 s for its retry.
        job = await queue.enqueue(fail_times, directory, "flaky", 5, max_retries=5, retry_delay=2)
        await async_wait_for(lambda: is_retrying(job), timeout=10, interval=0.05, what="the job is retrying")
        assert await job.cancel() is True
        await expect_cancelled(job, timeout=10)
        assert await job.status() == JobStatus.CANCELLED
        # Longer than the retry delay and the ack wait: the cancelled job does not run again.
        await holds_for(lambda: len(runs(directory, "flaky")) == 1, 3.0, "the cancelled job was retried")
        assert await job.cancel() is False


# --- waiting on a dependency ----------------------------------------------------------------------


async def test_a_cancelled_waiting_job_never_runs_and_its_dependents_fail(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, nats_url: str
) -> None:
    directory = str(tmp_path)
    # Cancelled before any worker runs: see the next test for a cancel while a worker runs.
    parent = await queue.enqueue(record_run, directory, "parent")
    waiting = await queue.enqueue(record_run, directory, "waiting", depends_on=parent)
    grandchild = await queue.enqueue(record_run, directory, "grandchild", depends_on=waiting)
    assert await waiting.status() == JobStatus.WAITING

    began = time.monotonic()
    assert await naq.client.cancel_job(waiting.job_id, nats_url=nats_url) is True
    assert await waiting.status() == JobStatus.CANCELLED
    assert time.monotonic() - began < 5
    await expect_cancelled(waiting, timeout=5)

    async with run_worker(concurrency=4) as worker:
        await expect_dependency_failed(grandchild, waiting, timeout=10)
        assert await parent.result(timeout=15) == "parent"
        # After its dependency completed, the cancelled job still does not run.
        await holds_for(lambda: runs(directory, "waiting") == [], 1.5, "the cancelled waiting job ran")
        await expect_cancelled(waiting, timeout=5)
        assert await waiting.status() == JobStatus.CANCELLED
        assert not run_worker.task(worker).done()

    assert runs(directory, "waiting") == []
    assert runs(directory, "grandchild") == []


async def test_cancelling_waiting_jobs_while_a_worker_runs_returns_true(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    async with run_worker(concurrency=4):
        jobs = await queue.enqueue_many(record_run, [(directory, "waiting")] * 10, depends_on="published-later")
        # One after another: each cancel races the worker that ends the released job (most lose).
        returned = [await job.cancel() for job in jobs]
        assert returned == [True] * len(jobs), f"cancel_job of a waiting job returned {returned}"


async def test_dependents_of_a_cancelled_job_fail_when_its_first_dependency_already_completed(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, js: Any
) -> None:
    directory = str(tmp_path)
    # No worker yet: "first" has surely not ended when "middle" is parked on it.
    first = await queue.enqueue(record_run, directory, "first")
    middle = await queue.enqueue(record_run, directory, "middle", depends_on=[first, "published-later"])
    last = await queue.enqueue(record_run, directory, "last", depends_on=middle)
    assert await middle.status() == JobStatus.WAITING
    async with run_worker(concurrency=2):
        assert await first.result(timeout=15) == "first"
        waiting = await js.key_value("naq_waiting")

        async def first_key_gone() -> bool:
            try:
                await waiting.get(waiting_key(first.job_id, middle.job_id))
            except nats.js.errors.KeyNotFoundError:
                return True
            return False

        # "middle" now waits only for "published-later", which never comes.
        await async_wait_for(first_key_gone, timeout=10, what="the completed dependency's waiting key deleted")
        assert await middle.cancel() is True
        await expect_cancelled(middle, timeout=5)
        # Only the cancel can end "last", and it does, promptly.
        await expect_dependency_failed(last, middle, timeout=5)
    assert runs(directory, "middle") == runs(directory, "last") == []


async def test_a_cancelled_waiting_job_without_a_stored_result_stays_cancelled(queue: Queue, tmp_path: Path) -> None:
    # result_ttl=0 stores no result: only the job's status records the cancel.
    job = await queue.enqueue(record_run, str(tmp_path), "x", depends_on="published-later", result_ttl=0)
    assert await job.status() == JobStatus.WAITING
    assert await job.cancel() is True
    assert await job.status() == JobStatus.CANCELLED
    assert await job.cancel() is False


# --- what cannot be cancelled -----------------------------------------------------------------------


async def test_unknown_ended_and_already_cancelled_jobs_are_not_cancelled(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, nats_url: str
) -> None:
    directory = str(tmp_path)
    assert await naq.client.cancel_job("no-such-job", nats_url=nats_url) is False

    queued = await queue.enqueue(record_run, directory, "twice")
    assert await queued.cancel() is True
    assert await queued.cancel() is False
    assert await naq.client.cancel_job(queued.job_id, nats_url=nats_url) is False
    await expect_cancelled(queued, timeout=5)

    async with run_worker(concurrency=2):
        completed = await queue.enqueue(add, 2, 3)
        failed = await queue.enqueue(always_fail, directory, "failed")
        assert await completed.result(timeout=15) == 5
        with pytest.raises(JobExecutionError) as caught:
            await failed.result(timeout=15)
        assert not isinstance(caught.value, JobCancelledError)

        assert await naq.client.cancel_job(completed.job_id, nats_url=nats_url) is False
        assert await completed.cancel() is False
        assert await failed.cancel() is False
        # Their results are untouched.
        assert await completed.result(timeout=5) == 5
        assert await completed.status() == JobStatus.COMPLETED
        assert await failed.status() == JobStatus.FAILED

    assert runs(directory, "twice") == []


@pytest.mark.parametrize("bad_id", ["bad id!", "", "a:b", "x" * 65])
async def test_an_invalid_id_is_a_value_error(nats_url: str, bad_id: str) -> None:
    with pytest.raises(ValueError, match="job id"):
        await naq.client.cancel_job(bad_id, nats_url=nats_url)


# --- the sync twin and the command line -----------------------------------------------------------


async def test_cancel_job_sync_from_plain_sync_code(queue: Queue, tmp_path: Path, nats_url: str) -> None:
    job = await queue.enqueue(record_run, str(tmp_path), "sync")

    def cancel_twice() -> tuple[bool, bool, bool]:
        return (
            naq.client.cancel_job_sync(job.job_id, nats_url),
            naq.client.cancel_job_sync(job.job_id, nats_url),
            naq.client.cancel_job_sync("unknown-job", nats_url),
        )

    assert await asyncio.to_thread(cancel_twice) == (True, False, False)
    assert await job.status() == JobStatus.CANCELLED
    await expect_cancelled(job, timeout=5)
    with pytest.raises(ValueError, match="job id"):
        await asyncio.to_thread(naq.client.cancel_job_sync, "bad id!", nats_url)


async def naq_cli(processes: ProcessGroup, env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """Run ``naq ARGS`` as a subprocess (without blocking the loop the worker runs on)."""
    process = processes.spawn("naq", *args, env=env)
    code = await asyncio.to_thread(process.wait, 30)
    return code, processes.output(process).splitlines()


async def test_naq_status_and_naq_cancel_on_the_command_line(
    run_worker: WorkerRunner,
    queue: Queue,
    tmp_path: Path,
    processes: ProcessGroup,
    naq_env: dict[str, str],
) -> None:
    directory = str(tmp_path)
    queued = await queue.enqueue(record_run, directory, "queued")
    (cancel_code, cancel_out), (unknown_code, _) = await asyncio.gather(
        naq_cli(processes, naq_env, "cancel", queued.job_id),
        naq_cli(processes, naq_env, "cancel", "no-such-job"),
    )
    assert cancel_code == 0, cancel_out
    assert f"cancelled {queued.job_id}" in cancel_out
    assert unknown_code == 1
    await expect_cancelled(queued, timeout=5)

    async with run_worker(concurrency=2):
        completed = await queue.enqueue(add, 2, 3)
        assert await completed.result(timeout=15) == 5
        (status_code, status_out), (cancelled_code, cancelled_out), (ended_code, _) = await asyncio.gather(
            naq_cli(processes, naq_env, "status", completed.job_id),
            naq_cli(processes, naq_env, "status", queued.job_id),
            naq_cli(processes, naq_env, "cancel", completed.job_id),
        )
    assert status_code == 0, status_out
    assert "completed" in status_out
    assert cancelled_code == 0, cancelled_out
    assert "cancelled" in cancelled_out
    assert ended_code == 1
    assert runs(directory, "queued") == []
