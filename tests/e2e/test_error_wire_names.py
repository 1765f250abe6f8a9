"""retry_on / ignore_on name naq's errors by their public wire names, on a real worker process.

A job that runs past its ``timeout`` fails with ``naq.worker:JobTimeoutError``; the producer names
that error by the string, by the class imported from naq.client, or (in jobs queued by an older
naq) by its former private name ``naq.worker._executor:JobTimeoutError``: all three match.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness import jobs
from harness.processes import ProcessGroup
from harness.worker_processes import result_record, spawn_worker, wait_registered, worker_logs
from naq.client import Job, JobExecutionError, JobTimeoutError, Queue
from naq.protocol import JobEnvelope, ResultRecord

QUEUE = "default"
TIMEOUT = 0.5
"""Seconds each attempt may run; the job would sleep far longer."""
SLEEP = 30.0


@pytest.fixture
async def queue(client_env: dict[str, str]) -> AsyncIterator[Queue]:
    """The default queue, with the worker subprocesses' settings."""
    yield Queue(QUEUE)
    await naq.client.close()


async def _ended(queue: Queue, job_id: str, js: Any) -> ResultRecord:
    """The job's failed result, once it is written (through ``Job.result`` as a user waits)."""
    with pytest.raises(JobExecutionError) as raised:
        await Job(job_id, QUEUE, queue.settings).result(timeout=30)
    assert raised.value.error_type == "naq.worker:JobTimeoutError"
    record = await result_record(js, job_id)
    assert record is not None
    return record


async def _enqueue_timing_out(queue: Queue, run_dir: Path, tag: str, **options: Any) -> None:
    """Enqueue a job (id ``tag``) whose every attempt runs past its timeout."""
    await queue.enqueue(
        "harness.jobs:record_then_sleep", str(run_dir), tag, SLEEP, job_id=tag, timeout=TIMEOUT, **options
    )


async def _publish_raw(js: Any, run_dir: Path, job_id: str, **options: Any) -> None:
    """Publish a job as an older naq would have queued it (its refs written as they were then)."""
    envelope = JobEnvelope(
        job_id=job_id,
        queue=QUEUE,
        function="harness.jobs:record_then_sleep",
        payload={"args": [str(run_dir), job_id, SLEEP], "kwargs": {}},
        enqueued_at=1.0,
        timeout=TIMEOUT,
        **options,
    )
    await js.publish(f"naq.queue.{QUEUE}", envelope.encode(), headers={"Nats-Msg-Id": job_id})


async def test_retry_on_the_timeout_wire_name_retries_a_timed_out_job(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    worker = spawn_worker(processes, naq_env, "wire-retry", concurrency=4)
    await wait_registered(processes, {"wire-retry": worker})
    retried = {
        "by-string": "naq.worker:JobTimeoutError",
        "by-class": JobTimeoutError,
        "by-builtin": "builtins:TimeoutError",
    }
    for tag, ref in retried.items():
        await _enqueue_timing_out(queue, run_dir, tag, max_retries=2, retry_on=ref)
    await _publish_raw(js, run_dir, "by-old-name", max_retries=2, retry_on=("naq.worker._executor:JobTimeoutError",))
    # The filter still picks: a timeout is not an OtherError, so it is not retried.
    await _enqueue_timing_out(queue, run_dir, "other", max_retries=2, retry_on="harness.jobs:OtherError")
    try:
        for tag in [*retried, "by-old-name"]:
            record = await _ended(queue, tag, js)
            assert (record.status, record.attempts) == ("failed", 3), tag
            assert record.error is not None
            assert record.error.type == "naq.worker:JobTimeoutError"
            assert "timeout of 0.5 s" in record.error.message
            assert len(jobs.runs(str(run_dir), tag)) == 3, f"{tag}: one run per attempt"
        record = await _ended(queue, "other", js)
        assert record.attempts == 1
        assert len(jobs.runs(str(run_dir), "other")) == 1
    except (AssertionError, TimeoutError):
        print(worker_logs(processes, [worker]))
        raise


async def test_ignore_on_the_timeout_wire_name_fails_a_timed_out_job_at_once(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    worker = spawn_worker(processes, naq_env, "wire-ignore", concurrency=4)
    await wait_registered(processes, {"wire-ignore": worker})
    for tag, ref in {"by-string": "naq.worker:JobTimeoutError", "by-class": JobTimeoutError}.items():
        await _enqueue_timing_out(queue, run_dir, tag, max_retries=3, ignore_on=ref)
    await _publish_raw(js, run_dir, "by-old-name", max_retries=3, ignore_on=("naq.worker._executor:JobTimeoutError",))
    try:
        for tag in ("by-string", "by-class", "by-old-name"):
            record = await _ended(queue, tag, js)
            assert (record.status, record.attempts) == ("failed", 1), tag
            assert record.error is not None
            assert record.error.type == "naq.worker:JobTimeoutError"
            assert len(jobs.runs(str(run_dir), tag)) == 1, f"{tag}: never retried"
    except (AssertionError, TimeoutError):
        print(worker_logs(processes, [worker]))
        raise
