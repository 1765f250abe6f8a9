"""Outcomes too large for one NATS message (issue 9, items 2 and 3), against a real server.

The session server keeps its default ``max_payload`` of 1 MiB. A dead-letter record of a 900 KB
undecodable message (base64, 1.2 MB) cannot be stored whole; a 2 MB return value cannot be stored
as a result; an exception with a 2 MB message cannot be stored whole in a result or dead-letter
record. Each must end (dead-lettered, failed for good) at once: never a storage retry every 5 s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from harness.jobs import add, big_value, fail_hugely, runs
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner, holds_for
from naq.client import JobExecutionError, Queue, Settings
from naq.client._connection import get_connection
from naq.client._failed import FailedEntry, list_failed
from naq.client._results import read_result_record
from naq.protocol import FailedJobRecord, JobEnvelope, UndecodableMessageRecord, message_size

JOBS_STREAM = "naq_jobs"
CONSUMER = "naq-worker-default"
LIMIT = 1024 * 1024
"""The session server's max payload (nats-server's default)."""

QUIET_WINDOW = 7.0
"""Seconds of watching for a repeat: longer than the 5 s storage-retry delay of the old loop."""


@pytest.fixture
def naq_errors() -> Iterator[list[str]]:
    """ERROR lines naq logs during the test (naq's logging enabled for its duration)."""
    lines: list[str] = []
    logger.enable("naq")
    sink = logger.add(lambda message: lines.append(str(message)), level="ERROR", filter="naq")
    try:
        yield lines
    finally:
        logger.remove(sink)
        logger.disable("naq")


async def dead_letter(settings: Settings, entry_id: str) -> FailedEntry:
    """The dead-letter record ``entry_id`` once it is there."""

    async def found() -> list[FailedEntry]:
        return [e for e in await list_failed(await get_connection(settings)) if e.id == entry_id]

    [entry] = await async_wait_for(found, timeout=15, interval=0.1, what=f"dead-letter record {entry_id}")
    return entry


async def drained(js: Any) -> bool:
    """True when the queue consumer has nothing pending and nothing unacknowledged."""
    info = await js.consumer_info(JOBS_STREAM, CONSUMER)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def expect_failure(job: Any, timeout: float) -> JobExecutionError:
    with pytest.raises(JobExecutionError) as caught:
        await job.result(timeout=timeout)
    return caught.value


async def failed_events(nc: Any) -> list[dict[str, Any]]:
    """A list that fills with the ``failed`` events of the default queue from now on."""
    events: list[dict[str, Any]] = []

    async def on_event(message: Any) -> None:
        events.append(json.loads(message.data))

    await nc.subscribe("naq.events.default.failed", cb=on_event)
    await nc.flush()
    return events


async def naq_cli(processes: ProcessGroup, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run ``naq ARGS`` as a subprocess (without blocking the loop the worker runs on)."""
    process = processes.spawn("naq", *args, env=env)
    code = await asyncio.to_thread(process.wait, 30)
    return code, processes.output(process)


# --- item 2: an undecodable message too large for a whole dead-letter record ---------------------


async def test_a_900_kb_undecodable_message_is_dead_lettered_truncated_with_its_size_and_digest(
    run_worker: WorkerRunner,
    queue: Queue,
    test_settings: Settings,
    js: Any,
    nc: Any,
    naq_errors: list[str],
    processes: ProcessGroup,
    naq_env: dict[str, str],
) -> None:
    garbage = b"\xff" + random.Random(9).randbytes(900_000 - 1)  # never UTF-8 JSON
    events = await failed_events(nc)
    async with run_worker(concurrency=1) as worker:
        ack = await js.publish("naq.queue.default", garbage)
        entry = await dead_letter(test_settings, f"_raw.{ack.seq}")
        record = entry.record
        assert isinstance(record, UndecodableMessageRecord)
        assert record.original_size == len(garbage)
        assert record.sha256 == hashlib.sha256(garbage).hexdigest()
        assert record.truncated
        kept = base64.b64decode(record.data)
        assert garbage.startswith(kept)
        assert 600_000 < len(kept) < len(garbage), "as much as fits is kept"
        assert message_size(record.encode()) <= LIMIT

        await async_wait_for(lambda: drained(js), timeout=10, what="the queue consumer drained")
        # The one slot is free: an ordinary job runs next.
        job = await queue.enqueue(add, 2, 3)
        assert await job.result(timeout=15) == 5
        task = run_worker.task(worker)
        await holds_for(lambda: not task.done() and not naq_errors, QUIET_WINDOW, f"ERRORs logged: {naq_errors}")
        assert worker.failed == 1
        assert len([e for e in events if e.get("job_id") is None]) == 1

    code, output = await naq_cli(processes, naq_env, "failed", "list", "--json")
    assert code == 0, output
    [listed] = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert listed["id"] == f"_raw.{ack.seq}"
    assert listed["original_size"] == len(garbage)
    assert listed["sha256"] == hashlib.sha256(garbage).hexdigest()
    assert listed["truncated"] is True
    assert listed["reason"] == "undecodable"


# --- item 3: a result too large to store ----------------------------------------------------------


async def test_a_2_mb_result_fails_the_job_once_with_result_too_large_and_the_worker_goes_on(
    run_worker: WorkerRunner,
    queue: Queue,
    test_settings: Settings,
    js: Any,
    nc: Any,
    naq_errors: list[str],
    tmp_path: Path,
) -> None:
    directory = str(tmp_path)
    size = 2_000_000
    events = await failed_events(nc)
    async with run_worker(concurrency=2) as worker:
        job = await queue.enqueue(big_value, directory, "big", size, max_retries=3, retry_delay=0)
        error = await expect_failure(job, timeout=15)
        assert error.error_type == "naq.client:ResultTooLargeError"
        assert str(LIMIT) in error.error_message, error.error_message
        stored_size = int(error.error_message.split(" bytes")[0].split()[-1])
        assert stored_size > size, error.error_message

        result = await read_result_record(await get_connection(test_settings), job.job_id)
        assert result is not None
        assert result.status == "failed"
        assert result.attempts == 1
        entry = await dead_letter(test_settings, job.job_id)
        assert isinstance(entry.record, FailedJobRecord)
        assert entry.record.attempts == 1
        assert entry.record.error.type == error.error_type
        await async_wait_for(lambda: events, timeout=5, what="a failed event")
        [event] = events
        assert event["job_id"] == job.job_id
        assert event["data"]["error_type"] == error.error_type

        # Never run again: no retry, no redelivery counted as a crash.
        after = await queue.enqueue(add, 2, 3)
        assert await after.result(timeout=15) == 5
        task = run_worker.task(worker)
        await holds_for(lambda: len(runs(directory, "big")) == 1, QUIET_WINDOW, "the job ran again")
        assert not task.done()
        assert await drained(js)
        assert worker.failed == 1
        assert not naq_errors, naq_errors


# --- item 3: a failure whose own error is huge ------------------------------------------------------


@pytest.mark.parametrize("where", ["message", "cause"])
async def test_a_job_failing_with_a_huge_error_ends_failed_with_the_error_cut_to_fit(
    run_worker: WorkerRunner,
    queue: Queue,
    test_settings: Settings,
    js: Any,
    nc: Any,
    naq_errors: list[str],
    tmp_path: Path,
    where: str,
) -> None:
    directory = str(tmp_path)
    events = await failed_events(nc)
    async with run_worker(concurrency=2) as worker:
        job = await queue.enqueue(fail_hugely, directory, "huge", 2_000_000, where, max_retries=1, retry_delay=0)
        error = await expect_failure(job, timeout=20)
        assert error.error_type == "harness.jobs:PlannedError"
        assert "truncated from" in error.traceback, error.traceback[-300:]
        if where == "message":
            assert error.error_message.startswith("y" * 1000)
            assert "truncated from 2000000 bytes" in error.error_message
        else:
            assert error.error_message == "planned failure of huge"
            assert error.traceback.rstrip().endswith("PlannedError: planned failure of huge")

        result = await read_result_record(await get_connection(test_settings), job.job_id)
        assert result is not None
        assert result.status == "failed"
        assert result.attempts == 2
        entry = await dead_letter(test_settings, job.job_id)
        assert isinstance(entry.record, FailedJobRecord)
        if where == "message":  # cut to fit its own record (the job nested in it takes some room)
            assert entry.record.error.message.startswith("y" * 1000)
            assert entry.record.error.message.endswith("... [truncated from 2000000 bytes]")
        else:
            assert entry.record.error.message == error.error_message
        await async_wait_for(lambda: events, timeout=5, what="a failed event")
        assert len(json.dumps(events[0])) < 64 * 1024, "the event carries a short error"

        task = run_worker.task(worker)
        await holds_for(lambda: len(runs(directory, "huge")) == 2, QUIET_WINDOW, "the job ran again")
        assert not task.done()
        assert await drained(js)
        assert worker.failed == 1
        assert not naq_errors, naq_errors


# --- other writes that cannot fit: a retry's delayed publish, a job's dead-letter record -----------


async def test_a_job_nearly_at_the_max_payload_retries_later_and_is_dead_lettered_raw(
    run_worker: WorkerRunner,
    test_settings: Settings,
    js: Any,
    naq_errors: list[str],
    tmp_path: Path,
) -> None:
    # A job 40 bytes under the limit: its delayed retry (with the schedule headers) and its
    # dead-letter record (the job nested whole, plus the error) are both over the limit.
    directory = str(tmp_path)

    def envelope(padding: str) -> JobEnvelope:
        return JobEnvelope(
            job_id="near-limit",
            queue="default",
            function="harness.jobs:fail_padded",
            payload={"args": [directory, "near", padding], "kwargs": {}},
            enqueued_at=1.0,
            max_retries=1,
            retry_delay=6.0,  # above the nak limit: a retry through a server-side schedule
        )

    bare = message_size(envelope("").encode())
    data = envelope("p" * (LIMIT - 40 - bare)).encode()
    assert message_size(data) == LIMIT - 40
    async with run_worker(concurrency=1) as worker:
        await js.publish("naq.queue.default", data)
        entry: FailedEntry | None = None

        async def dead_lettered() -> bool:
            nonlocal entry
            entries = await list_failed(await get_connection(test_settings))
            entry = next((e for e in entries if getattr(e.record, "job_id", None) == "near-limit"), None)
            return entry is not None

        await async_wait_for(dead_lettered, timeout=30, interval=0.2, what="the job dead-lettered")
        assert entry is not None
        assert isinstance(entry.record, UndecodableMessageRecord)
        assert entry.record.original_size == len(data)
        assert entry.record.sha256 == hashlib.sha256(data).hexdigest()
        assert entry.record.error.type == "harness.jobs:PlannedError"
        result = await read_result_record(await get_connection(test_settings), "near-limit")
        assert result is not None
        assert result.status == "failed"
        assert result.attempts == 2
        assert result.error is not None
        assert result.error.type == "harness.jobs:PlannedError"
        times = runs(directory, "near")
        assert len(times) == 2
        assert times[1] - times[0] >= 5.5, "the retry waited for its delay"
        await async_wait_for(lambda: drained(js), timeout=10, what="the queue consumer drained")
        assert worker.failed == 1
        assert not naq_errors, naq_errors
