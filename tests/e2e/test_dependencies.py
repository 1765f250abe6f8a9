"""Acceptance tests of job dependencies (issue 4), with in-process workers on real NATS.

Dependents are parked in ``naq_waiting`` (no worker slot, no ack-pending capacity) and released
when their dependencies end; a failed or cancelled dependency fails them with
``DependencyFailedError``. Deadlines are about five times the stated figures (BRIEF §10).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.jobs import always_fail, record_run, runs, sleep_then_record
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import DependencyFailedError, JobExecutionError, JobStatus, Queue, Settings


async def test_dependent_starts_after_its_dependency_completes(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    async with run_worker(concurrency=4):
        a = await queue.enqueue(sleep_then_record, str(tmp_path), "a", 2.0)
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=a)
        assert await b.status() == JobStatus.WAITING
        assert await a.result(timeout=15) == "a"
        assert await b.result(timeout=10) == "b"
    [a_finished] = runs(tmp_path, "a")
    [b_started] = runs(tmp_path, "b")
    assert b_started >= a_finished


async def test_dependent_of_two_starts_after_both(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=4):
        a = await queue.enqueue(sleep_then_record, str(tmp_path), "a", 0.5)
        b = await queue.enqueue(sleep_then_record, str(tmp_path), "b", 1.0)
        c = await queue.enqueue(record_run, str(tmp_path), "c", depends_on=[a, b.job_id])
        assert await c.result(timeout=15) == "c"
    assert runs(tmp_path, "c")[0] >= max(runs(tmp_path, "a")[0], runs(tmp_path, "b")[0])


async def test_failed_dependency_fails_the_dependent(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=2):
        a = await queue.enqueue(always_fail, str(tmp_path), "a")
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=a)
        with pytest.raises(JobExecutionError):
            await a.result(timeout=10)
        with pytest.raises(DependencyFailedError, match=a.job_id):
            await b.result(timeout=5)
        assert await b.status() == JobStatus.FAILED
    assert runs(tmp_path, "b") == []
