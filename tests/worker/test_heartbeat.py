"""The worker's heartbeat record (naq.worker._heartbeat), and the pieces' view of a real Worker."""

from __future__ import annotations

import asyncio

import nats.js.errors
import pytest

from harness.registry import is_registered
from harness.waiting import async_wait_for
from harness.worker_parts import PartsHost
from naq.client.runtime import Connection, ensure_bucket
from naq.protocol import Settings, WorkerHeartbeat, WorkerStatus, resources
from naq.worker import Worker
from naq.worker._heartbeat import Heartbeat, HeartbeatHost
from naq.worker._outcomes import OutcomeHost
from naq.worker._processor import ProcessorHost


async def test_the_record_reflects_the_workers_counts_per_queue(test_settings: Settings) -> None:
    worker = Worker(["mail", "video"], concurrency=3, settings=test_settings, name="counting")
    for queue, failed in [("mail", False), ("mail", False), ("video", False), ("video", True)]:
        worker.counted(queue, failed=failed)
    record = Heartbeat(worker).record()
    assert (record.worker_id, record.queues, record.concurrency) == ("counting", ("mail", "video"), 3)
    assert (record.processed, record.failed) == (3, 1)
    assert record.processed_by_queue == {"mail": 2, "video": 1}
    assert record.failed_by_queue == {"video": 1}
    assert (record.status, record.current_jobs) == (WorkerStatus.IDLE, ())
    worker.counted("mail", failed=True)
    assert record.failed_by_queue == {"video": 1}, "a record is a snapshot, not a view"
    assert Heartbeat(worker).record().failed_by_queue == {"video": 1, "mail": 1}


async def test_a_beat_stores_the_record_and_stop_removes_it(connection: Connection, host: PartsHost) -> None:
    host.registry = await ensure_bucket(connection, resources.workers_bucket(connection.settings))
    host.running = ["job-a"]
    host.counted("default", failed=False)
    heartbeat = Heartbeat(host)
    await heartbeat.beat()
    entry = await host.registry.get(host.worker_id)
    stored = WorkerHeartbeat.decode(entry.value)
    assert (stored.status, stored.current_jobs) == (WorkerStatus.BUSY, ("job-a",))
    assert stored.processed_by_queue == {"default": 1}
    heartbeat.start()
    host.running = []
    heartbeat.changed()  # a job ended: the registry hears of it within a second, not at the next interval

    async def idle() -> bool:
        entry = await host.registry.get(host.worker_id)
        return WorkerHeartbeat.decode(entry.value).status == WorkerStatus.IDLE

    await async_wait_for(idle, timeout=5, what="the idle heartbeat stored")
    await heartbeat.stop()
    with pytest.raises(nats.js.errors.NotFoundError):  # deleted: the worker left the registry at once
        await host.registry.get(host.worker_id)


async def test_a_running_worker_is_what_each_of_its_pieces_expects(test_settings: Settings) -> None:
    """The pieces type their back-reference as a Protocol: a real, started Worker has every member."""
    worker = Worker("default", concurrency=2, settings=test_settings)
    task = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        await async_wait_for(
            lambda: is_registered(test_settings, worker.worker_id), timeout=20, what="worker registered"
        )
        for protocol in (ProcessorHost, OutcomeHost, HeartbeatHost):
            assert isinstance(worker, protocol), protocol.__name__
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)
