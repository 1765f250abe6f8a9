"""A full results bucket or dead-letter queue never makes a loop (issue 13), on a real server.

Both are limited with ``discard: new``: once full, JetStream refuses every write. The test fills
one with filler entries, runs jobs, and watches a window: the worker logs one ERROR line and
publishes one ``storage_error`` event per step of its back-off (never one per job per second),
the steps grow apart, the jobs run a bounded number of times and stay in the queue (delivered
again later, none lost); once space is freed every job ends as it should.

The worker's back-off is shortened (0.5 s doubling to 2 s, instead of 5 s to 60 s) so the test
sees several steps in a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
from loguru import logger

from harness.jobs import always_fail, record_run, runs
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner, holds_for
from naq.client import JobExecutionError, Queue, Settings
from naq.protocol import FailedJobRecord, names

ALLOWED = ("harness",)
"""Modules the workers of these tests may run (the test jobs)."""

JOBS = 4
CONCURRENCY = 2
WINDOW = 6.0
"""Seconds the full storage is watched."""

FIRST, MOST = 0.5, 2.0
"""The shortened back-off: first pause and longest pause, in seconds."""

# With every pause at least FIRST and each job's own redeliveries at least FIRST, 1, 2, 2, ... s
# apart, a job runs at most about 1 + WINDOW / FIRST times in the window; a loop would run it
# hundreds of times.
MAX_RUNS_PER_JOB = int(1 + WINDOW / FIRST)
MAX_STEPS = int(WINDOW / FIRST) + 1
"""Most back-off steps (each one ERROR line, one event) the window can hold."""


@pytest.fixture
def naq_errors() -> Iterator[list[str]]:
    """ERROR lines naq logs during the test."""
    lines: list[str] = []
    logger.enable("naq")
    sink = logger.add(lambda message: lines.append(str(message)), level="ERROR", filter="naq")
    try:
        yield lines
    finally:
        logger.remove(sink)
        logger.disable("naq")


async def storage_errors(nc: Any) -> list[dict[str, Any]]:
    """A list that fills with the ``storage_error`` system events from now on."""
    seen: list[dict[str, Any]] = []

    async def on_event(message: Any) -> None:
        seen.append(json.loads(message.data))

    await nc.subscribe(f"naq.events._sys.{names.SystemEventKind.STORAGE_ERROR}", cb=on_event)
    await nc.flush()
    return seen


async def fill(js: Any, subject_prefix: str, size: int = 1024) -> int:
    """Publish fillers of ``size`` bytes under ``subject_prefix.<n>`` until JetStream refuses one
    for the stream's byte limit; returns how many went in."""
    for n in range(10_000):
        try:
            await js.publish(f"{subject_prefix}.{n}", b"f" * size)
        except nats.js.errors.APIError as exc:
            refusal = exc
            break
    else:
        raise AssertionError("never full")
    assert "maximum bytes exceeded" in str(refusal), refusal
    return n


async def queued(js: Any, queue: str = "default") -> int:
    """Jobs of ``queue`` still in the consumer: pending or delivered and not acked."""
    info = await js.consumer_info(names.JOBS_STREAM, f"naq-worker-{queue}")
    return int(info.num_pending + info.num_ack_pending)


def shorten(worker: Any) -> None:
    worker.storage_backoff.first = FIRST
    worker.storage_backoff.most = MOST


async def watch_full(
    run_worker_worker: Any, js: Any, counts: Any, events: list[dict[str, Any]], errors: list[str]
) -> None:
    """The checks of the window while storage is full (see the module docstring)."""
    task_done = run_worker_worker
    await holds_for(lambda: not task_done(), WINDOW, "the worker stopped")
    per_job = counts()
    assert all(1 <= n <= MAX_RUNS_PER_JOB for n in per_job), per_job
    assert 2 <= len(events) <= MAX_STEPS, len(events)
    pauses = [event["data"]["paused"] for event in events]
    assert pauses[:3] == sorted(pauses[:3]), f"the pause grows: {pauses}"
    assert pauses[1] > pauses[0], pauses
    assert max(pauses) <= MOST, pauses
    storage_lines = [line for line in errors if "could not store a job outcome" in line]
    assert len(storage_lines) == len(events), (storage_lines, events)
    assert await queued(js) == JOBS, "every job is still in the queue"


async def test_a_full_results_bucket_pauses_the_worker_and_loses_no_job(
    run_worker: WorkerRunner, test_settings: Settings, js: Any, nc: Any, tmp_path: Path, naq_errors: list[str]
) -> None:
    settings = dataclasses.replace(test_settings, results_max_bytes=16 * 1024)
    queue = Queue(settings=settings)
    directory = str(tmp_path)
    events = await storage_errors(nc)
    async with run_worker(concurrency=CONCURRENCY, settings=settings, allowed_modules=ALLOWED) as worker:
        shorten(worker)
        await fill(js, f"$KV.{names.RESULTS_BUCKET}.filler")
        jobs = [await queue.enqueue(record_run, directory, f"job{i}") for i in range(JOBS)]

        await watch_full(
            lambda: run_worker.task(worker).done(),
            js,
            lambda: [len(runs(directory, f"job{i}")) for i in range(JOBS)],
            events,
            naq_errors,
        )

        # Space again: the jobs come back and complete.
        await js.purge_stream(f"KV_{names.RESULTS_BUCKET}", subject=f"$KV.{names.RESULTS_BUCKET}.filler.>")
        for i, job in enumerate(jobs):
            assert await job.result(timeout=MOST + 10) == f"job{i}"
        await async_wait_for(lambda: _drained(js), timeout=10, what="the queue drained")
        assert worker.storage_backoff.steps == 0, "storage works again: no pause"


async def _drained(js: Any) -> bool:
    return await queued(js) == 0


async def test_a_full_dead_letter_queue_pauses_the_worker_and_loses_no_failed_job(
    run_worker: WorkerRunner, test_settings: Settings, js: Any, nc: Any, tmp_path: Path, naq_errors: list[str]
) -> None:
    queue = Queue(settings=test_settings)
    directory = str(tmp_path)
    events = await storage_errors(nc)
    async with run_worker(concurrency=CONCURRENCY, allowed_modules=ALLOWED) as worker:
        shorten(worker)
        # naq's dead-letter stream is bounded by a constant far above what a test can fill:
        # shrink it on the server (the worker checked its configuration when it started).
        info = await js.stream_info(names.FAILED_JOBS_STREAM)
        await js.update_stream(dataclasses.replace(info.config, max_bytes=16 * 1024))
        await fill(js, f"{names.FAILED_PREFIX}.default.filler")
        jobs = [await queue.enqueue(always_fail, directory, f"job{i}") for i in range(JOBS)]

        await watch_full(
            lambda: run_worker.task(worker).done(),
            js,
            lambda: [len(runs(directory, f"job{i}")) for i in range(JOBS)],
            events,
            naq_errors,
        )
        for job in jobs:  # no failed result before the dead letter: the job is not over yet
            assert await job.status() != "failed"

        await js.purge_stream(names.FAILED_JOBS_STREAM, subject=f"{names.FAILED_PREFIX}.default.filler.>")
        for job in jobs:
            with pytest.raises(JobExecutionError):
                await job.result(timeout=MOST + 10)
        await async_wait_for(lambda: _drained(js), timeout=10, what="the queue drained")
        for job in jobs:
            message = await js.get_last_msg(names.FAILED_JOBS_STREAM, f"{names.FAILED_PREFIX}.default.{job.job_id}")
            assert FailedJobRecord.decode(message.data).job.job_id == job.job_id
