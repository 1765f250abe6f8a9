"""One delivery through the processor (naq.worker._processor): what runs, and what is only recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from harness import jobs
from harness.waiting import async_wait_for
from harness.worker_parts import PartsHost, QueueTap, envelope, wire_parts
from naq.client.runtime import Connection, read_result_record
from naq.protocol import DependencyOutcome, DependencyVerdict, ResultRecord, names
from naq.worker._delivery import Delivery
from naq.worker._processor import JobProcessor
from naq.worker._store import JobStore


async def _process(host: PartsHost, tap: QueueTap, message: object) -> None:
    _, _, processor = wire_parts(host)
    await processor.process(Delivery(message, tap.queue))


async def _result(connection: Connection, job_id: str) -> ResultRecord:
    record = await read_result_record(connection, job_id)
    assert record is not None, f"no result for {job_id}"
    return record


async def test_a_job_runs_between_its_hooks_and_its_result_is_stored(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    await _process(host, tap, await tap.deliver(envelope("sum-1", "harness.jobs:add", 2, 3)))
    record = await _result(connection, "sum-1")
    assert (record.status, record.value, record.attempts) == ("completed", 5, 1)
    assert [name for name, _ in host.hooks_called] == ["before_job", "after_job"]
    context, error = host.hooks_called[-1][1]
    assert (context.job_id, context.attempt, context.worker_id, error) == ("sum-1", 1, "parts-worker", None)
    assert host.changes == 1, "the heartbeat hears that a job started"
    assert await tap.pending() == (0, 0)
    await host.completions.close()


async def test_a_cancelled_job_is_ended_without_running(
    host: PartsHost, tap: QueueTap, connection: Connection, tmp_path: Path
) -> None:
    host.cancelled.add("gone-1")
    await _process(host, tap, await tap.deliver(envelope("gone-1", "harness.jobs:record_run", str(tmp_path), "gone")))
    assert (await _result(connection, "gone-1")).status == "cancelled"
    assert jobs.runs(str(tmp_path), "gone") == []
    assert host.hooks_called == []


async def test_a_redelivered_job_that_already_ended_is_acked_without_running_again(
    host: PartsHost, tap: QueueTap, connection: Connection, tmp_path: Path
) -> None:
    job = envelope("twice-1", "harness.jobs:record_run", str(tmp_path), "twice")
    first = await tap.deliver(job)
    # Its first worker stored the result, then died before the ack.
    stored = ResultRecord.completed(job, "twice", attempts=1, started_at=1.0, worker_id="w0")
    await JobStore(connection).write_result(stored, None)
    await first.nak()
    [again] = await tap.fetch(1)
    assert again.metadata.num_delivered == 2
    await _process(host, tap, again)
    assert jobs.runs(str(tmp_path), "twice") == []
    assert (await _result(connection, "twice-1")).worker_id == "w0", "the first result stands"
    assert await tap.pending() == (0, 0)


async def _die_running_alone(processor: JobProcessor, store: JobStore, message: Any, job_id: str) -> None:
    """Process ``message`` as a worker that dies while running it: the task is cancelled once the
    job runs alone (its status says so), and the message is handed back as a dead worker's would be."""
    task = asyncio.create_task(processor.process(Delivery(message, "default")))
    delivered = message.metadata.num_delivered

    async def running_alone() -> bool:
        status = await store.read_status(job_id)
        return status is not None and status.isolated and status.deliveries == delivered

    await async_wait_for(running_alone, timeout=5.0, what=f"{job_id} running alone")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await message.nak()


async def test_a_job_that_dies_alone_too_many_times_fails_as_worker_lost(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, _, processor = wire_parts(host)
    store = JobStore(connection)
    message = await tap.deliver(envelope("poison-1", "harness.jobs:async_sleep", 60))
    limit = connection.settings.max_crash_redeliveries
    await message.nak()  # its first worker died of something: not charged, it runs alone next
    [message] = await tap.fetch(1)
    for _ in range(limit):  # each time alone, its worker dies: charged
        await _die_running_alone(processor, store, message, "poison-1")
        [message] = await tap.fetch(1)
    assert message.metadata.num_delivered == limit + 2
    await processor.process(Delivery(message, tap.queue))
    record = await _result(connection, "poison-1")
    assert record.error is not None
    assert (record.status, record.error.type) == ("failed", "naq.worker:WorkerLostError")
    assert f"its worker died {limit} times while running it alone" in record.error.message
    assert await tap.pending() == (0, 0)


async def test_a_job_whose_workers_died_of_other_jobs_is_never_charged(
    host: PartsHost, tap: QueueTap, connection: Connection, tmp_path: Path
) -> None:
    job = envelope("bystander-1", "harness.jobs:record_run", str(tmp_path), "bystander")
    message = await tap.deliver(job)
    limit = connection.settings.max_crash_redeliveries
    for _ in range(limit + 2):  # lost again and again, never while it ran alone
        await message.nak()
        [message] = await tap.fetch(1)
    await _process(host, tap, message)
    assert (await _result(connection, "bystander-1")).status == "completed"
    assert len(jobs.runs(str(tmp_path), "bystander")) == 1
    status = await JobStore(connection).read_status("bystander-1")
    assert status is not None
    assert (status.isolated, status.crashes) == (True, 0), "it ran alone, charged nothing"


async def test_a_job_whose_dependency_failed_fails_without_running(
    host: PartsHost, tap: QueueTap, connection: Connection, tmp_path: Path
) -> None:
    job = envelope("orphan-1", "harness.jobs:record_run", str(tmp_path), "orphan", depends_on=("parent-9",))
    header = DependencyVerdict.failed("parent-9", DependencyOutcome.CANCELLED).header()
    await _process(host, tap, await tap.deliver(job, {names.HEADER_DEPENDENCIES: header}))
    record = await _result(connection, "orphan-1")
    assert record.error is not None
    assert (record.status, record.attempts, record.error.type) == ("failed", 0, "naq.client:DependencyFailedError")
    assert record.error.message == "dependency parent-9 was cancelled; job orphan-1 did not run"
    assert jobs.runs(str(tmp_path), "orphan") == []
    assert await tap.pending() == (0, 0)


async def test_a_job_whose_dependencies_are_met_runs(host: PartsHost, tap: QueueTap, connection: Connection) -> None:
    job = envelope("ready-2", "harness.jobs:add", 1, 1, depends_on=("parent-10",))
    await _process(host, tap, await tap.deliver(job, {names.HEADER_DEPENDENCIES: DependencyVerdict.met().header()}))
    assert (await _result(connection, "ready-2")).value == 2
    await host.completions.close()
