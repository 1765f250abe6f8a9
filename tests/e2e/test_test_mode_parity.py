"""Test mode (``naq.client.testing``) records a failure as a real worker does.

The same jobs, with the same ids, run once on a ``naq-worker`` subprocess and once in an
``inline_jobs()`` block; their result records must agree on what a user reads: status, error type,
error message and attempts (not timings, tracebacks or the worker id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import result_record, spawn_worker, wait_registered, worker_logs
from naq.client import Queue
from naq.client.testing import inline_jobs
from naq.protocol import ResultRecord

QUEUE = "default"

# job id: (function, args after the run directory, options)
FAILURES: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "async-timeout": ("harness.jobs:record_then_sleep", ("async-timeout", 30.0), {"timeout": 0.5}),
    "sync-timeout": ("harness.jobs:sleep_then_record", ("sync-timeout", 1.5), {"timeout": 0.5}),
    "raised-and-retried": (
        "harness.jobs:fail_with",
        ("raised-and-retried", "PlannedError"),
        {"max_retries": 1},
    ),
    "raised-not-retried": (
        "harness.jobs:fail_with",
        ("raised-not-retried", "OtherError"),
        {"max_retries": 2, "retry_on": "harness.jobs:PlannedError"},
    ),
    "timeout-retried": (
        "harness.jobs:record_then_sleep",
        ("timeout-retried", 30.0),
        {"timeout": 0.3, "max_retries": 1, "retry_on": "naq.worker:JobTimeoutError"},
    ),
    "unstorable-value": ("harness.jobs:unpicklable_result", (), {"max_retries": 2}),
    # The job's own TimeoutError, well within its timeout: not a JobTimeoutError, so ignore_on of
    # the wire name does not stop its retry.
    "own-timeout": (
        "harness.jobs:raise_own_timeout",
        ("own-timeout",),
        {"timeout": 30, "max_retries": 1, "ignore_on": "naq.worker:JobTimeoutError"},
    ),
}
DEPENDENT = "dependent-of-failed"
"""Depends on ``raised-not-retried``: fails without running, with ``DependencyFailedError``."""
NEVER = "never-enqueued"
CANCELLED = "cancelled-while-waiting"
"""Waits on a job that is never enqueued, and is cancelled meanwhile."""


@pytest.fixture
async def queue(client_env: dict[str, str]) -> AsyncIterator[Queue]:
    """The default queue, with the worker subprocess's settings."""
    yield Queue(QUEUE)
    await naq.client.close()


async def _enqueue_all(queue: Queue, run_dir: Path) -> None:
    for job_id, (function, args, options) in FAILURES.items():
        needs_dir = function != "harness.jobs:unpicklable_result"
        call_args = (str(run_dir), *args) if needs_dir else args
        await queue.enqueue(function, *call_args, job_id=job_id, **options)


async def _enqueue_dependents(queue: Queue) -> None:
    await queue.enqueue("harness.jobs:add", 1, 2, job_id=DEPENDENT, depends_on="raised-not-retried")
    await queue.enqueue("harness.jobs:add", 1, 2, job_id=CANCELLED, depends_on=NEVER)
    assert await naq.client.cancel_job(CANCELLED)


def _seen(record: ResultRecord | None) -> tuple[Any, ...] | None:
    if record is None:
        return None
    error = record.error
    return (record.status, error and error.type, error and error.message, record.attempts)


async def test_test_mode_and_a_worker_record_the_same_failures(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], tmp_path: Path, js: Any
) -> None:
    ids = [*FAILURES, DEPENDENT, CANCELLED]
    worker = spawn_worker(processes, naq_env, "parity", concurrency=8)
    await wait_registered(processes, {"parity": worker})
    worker_dir = tmp_path / "worker"
    worker_dir.mkdir()
    await _enqueue_all(queue, worker_dir)
    # The dependency ends first, so the dependent is released with a "failed" verdict on both sides.
    await async_wait_for(
        lambda: _has_result(js, "raised-not-retried"), timeout=30, interval=0.1, what="the dependency failed"
    )
    await _enqueue_dependents(queue)
    on_worker: dict[str, tuple[Any, ...] | None] = {}

    async def all_ended() -> bool:
        for job_id in ids:
            on_worker[job_id] = _seen(await result_record(js, job_id))
        return None not in on_worker.values()

    try:
        await async_wait_for(all_ended, timeout=60, interval=0.2, what="every job ended on the worker")
    except TimeoutError:
        raise AssertionError(f"{on_worker}\n{worker_logs(processes, [worker])}") from None

    inline_dir = tmp_path / "inline"
    inline_dir.mkdir()
    with inline_jobs() as runner:
        await _enqueue_all(queue, inline_dir)
        await _enqueue_dependents(queue)
    inline = {job_id: _seen(runner.record(job_id)) for job_id in ids}

    for job_id in ids:
        assert inline[job_id] == on_worker[job_id], job_id
    # What the comparison covers: naq's own error types, under their wire names.
    types = {job_id: seen[1] for job_id, seen in on_worker.items() if seen is not None}
    assert types["async-timeout"] == types["sync-timeout"] == "naq.worker:JobTimeoutError"
    assert types["timeout-retried"] == "naq.worker:JobTimeoutError"
    assert types["raised-and-retried"] == "harness.jobs:PlannedError"
    assert types[DEPENDENT] == "naq.client:DependencyFailedError"
    assert types[CANCELLED] == "naq.client:JobCancelledError"
    assert types["unstorable-value"] == "naq.client:SerializationError"
    assert types["own-timeout"] == "builtins:TimeoutError"
    own = on_worker["own-timeout"]
    assert own is not None
    assert own[3] == 2  # retried once


async def _has_result(js: Any, job_id: str) -> bool:
    return await result_record(js, job_id) is not None
