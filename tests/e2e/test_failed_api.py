"""The public dead-letter actions: ``requeue_failed_job`` and ``delete_failed_job`` (and twins).

A real worker in this process fails jobs for good (``max_retries=0``) into the real dead-letter
queue; the actions are called as a user would, with a listed entry or a job id.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import naq.client
from harness.jobs import always_fail, fail_times, runs
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import FailedEntry, JobExecutionError, JobNotFoundError, Queue, Settings


async def dead_letters(url: str, queue: str | None = None) -> list[FailedEntry]:
    return [entry async for entry in naq.client.failed_jobs(queue, nats_url=url)]


async def failed_entry(url: str, job_id: str, newer_than: int = 0) -> FailedEntry:
    """The dead-letter record of ``job_id`` (with a sequence above ``newer_than``), waited for."""

    async def found() -> list[FailedEntry]:
        return [e for e in await dead_letters(url) if e.id == job_id and e.sequence > newer_than]

    [entry] = await async_wait_for(found, timeout=10, what=f"dead-letter record of {job_id}")
    return entry


async def test_requeue_by_id_runs_the_job_again_and_empties_its_record(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path
) -> None:
    url = test_settings.servers[0]
    async with run_worker():
        job = await queue.enqueue(fail_times, str(tmp_path), "once", 1, max_retries=0)
        with pytest.raises(JobExecutionError):
            await job.result(timeout=20)
        await failed_entry(url, job.job_id)

        assert await naq.client.requeue_failed_job(job.job_id, nats_url=url) == job.job_id
        assert await job.result(timeout=20) == "done"
        assert len(runs(str(tmp_path), "once")) == 2
        assert [e for e in await dead_letters(url) if e.id == job.job_id] == []


async def test_delete_of_a_listed_entry_keeps_a_later_failure_of_the_same_job(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path
) -> None:
    url = test_settings.servers[0]
    async with run_worker():
        job = await queue.enqueue(always_fail, str(tmp_path), "again", max_retries=0)
        first = await failed_entry(url, job.job_id)
        await naq.client.requeue_failed_job(first, nats_url=url)
        second = await failed_entry(url, job.job_id, newer_than=first.sequence)

        await naq.client.delete_failed_job(first, nats_url=url)  # stale: listed before the rerun
        assert [e.sequence for e in await dead_letters(url) if e.id == job.job_id] == [second.sequence]

        await asyncio.to_thread(naq.client.delete_failed_job_sync, job.job_id, None, url)
        assert [e for e in await dead_letters(url) if e.id == job.job_id] == []


async def test_unknown_ids_are_not_found_and_nothing_changes(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path
) -> None:
    url = test_settings.servers[0]
    async with run_worker():
        job = await queue.enqueue(always_fail, str(tmp_path), "kept", max_retries=0)
        await failed_entry(url, job.job_id)
    before = await dead_letters(url)
    with pytest.raises(JobNotFoundError, match="no failed job"):
        await naq.client.requeue_failed_job("no-such-job", nats_url=url)
    with pytest.raises(JobNotFoundError):
        await asyncio.to_thread(naq.client.requeue_failed_job_sync, job.job_id, "another-queue", url)
    with pytest.raises(JobNotFoundError):
        await naq.client.delete_failed_job("no-such-job", nats_url=url)
    assert await dead_letters(url) == before
