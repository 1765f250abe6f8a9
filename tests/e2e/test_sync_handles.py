"""Sync scripts wait for their results through ``SyncJob`` and exit without a word on stderr (issue 9, item 8).

A worker runs in this process (``run_worker``); the producer is either a real Python subprocess
using only the sync API, or sync calls made from the test loop's thread pool, as a web app's
handlers would make them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import naq.client
from harness.commands import run_python
from harness.worker_runner import WorkerRunner
from naq.client import JobExecutionError, JobStatus, SyncJob

SCRIPT = """
import naq.client as naq

job = naq.enqueue_sync("harness.jobs:add", 2, 3)
assert isinstance(job, naq.SyncJob), type(job)
print("result", job.result(timeout=30))
print("status", job.status())
failing = naq.enqueue_sync("harness.jobs:fail_now")
try:
    failing.result(timeout=30)
except naq.JobExecutionError as exc:
    print("failed", exc.error_type)
many = naq.enqueue_many_sync("harness.jobs:add", [(i, i) for i in range(20)])
print("many", sum(j.result(timeout=30) for j in many))
later = naq.enqueue_in_sync(3600, "harness.jobs:add", 1, 1)
print("cancelled", later.cancel(), later.status())
# The last call publishes, so the acknowledgement sweeper is still running when the script ends.
naq.enqueue_sync("harness.jobs:add", 0, 0)
"""


@pytest.fixture
def sync_api(client_env: dict[str, str]) -> Iterator[None]:
    """The sync API of this process uses the test settings; its connections are closed after the test."""
    yield
    naq.client.disconnect_sync()


async def test_a_sync_script_waits_for_results_and_exits_without_a_word_on_stderr(
    run_worker: WorkerRunner, naq_env: dict[str, str]
) -> None:
    async with run_worker():
        ran = await run_python(SCRIPT, naq_env)
    assert ran.code == 0, ran
    assert ran.out.split("\n") == [
        "result 5",
        "status completed",
        "failed harness.jobs:PlannedError",
        f"many {sum(2 * i for i in range(20))}",
        "cancelled True cancelled",
        "",
    ], ran
    # Before the fix every such script ended with "Task was destroyed but it is pending! task:
    # <Task pending name='naq-ack-sweeper' ...>".
    assert ran.err == "", ran


async def test_sync_handles_wait_from_a_running_loops_thread_pool(run_worker: WorkerRunner, sync_api: None) -> None:
    def produce_and_wait(base: int) -> list[int]:
        jobs = [naq.client.enqueue_sync("harness.jobs:add", base, i) for i in range(50)]
        assert all(isinstance(job, SyncJob) for job in jobs)
        values = [job.result(timeout=30) for job in jobs]
        assert {job.status() for job in jobs} == {JobStatus.COMPLETED}
        return values

    async with run_worker(concurrency=8):
        # Four threads of this loop's default executor at once, while the loop runs the worker.
        batches = await asyncio.gather(*(asyncio.to_thread(produce_and_wait, 1000 * k) for k in range(4)))
        assert batches == [[1000 * k + i for i in range(50)] for k in range(4)]

        failing = await asyncio.to_thread(naq.client.enqueue_sync, "harness.jobs:fail_now")
        with pytest.raises(JobExecutionError):
            await asyncio.to_thread(failing.result, 30)


async def test_a_sync_wait_times_out_without_a_worker(sync_api: None) -> None:
    job = await asyncio.to_thread(naq.client.enqueue_sync, "harness.jobs:add", 1, 2)
    with pytest.raises(TimeoutError):
        await asyncio.to_thread(job.result, 0.5)
    assert await asyncio.to_thread(job.cancel) is True
    assert await asyncio.to_thread(job.status) == JobStatus.CANCELLED
