"""One concurrency bound across queues: an idle queue does not hold the slots a busy one needs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.registry import is_registered
from harness.waiting import async_wait_for
from naq.client import Queue
from naq.protocol import Settings
from naq.worker import Worker


async def test_a_busy_queue_uses_all_but_one_slot_while_another_queue_is_empty(
    test_settings: Settings, tmp_path: Path
) -> None:
    worker = Worker(["idle", "busy"], concurrency=4, settings=test_settings)
    task = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        await async_wait_for(
            lambda: is_registered(test_settings, worker.worker_id), timeout=20, what="worker registered"
        )
        jobs = await Queue("busy", settings=test_settings).enqueue_many(
            "harness.jobs:async_sleep_then_record", [[str(tmp_path), f"job-{i}", 1.0] for i in range(9)]
        )
        peak = 0

        def all_done() -> bool:
            nonlocal peak
            peak = max(peak, len(worker.running_job_ids()))
            return len(list(tmp_path.iterdir())) == 9

        await async_wait_for(all_done, timeout=30, interval=0.05, what="every job ran")
        await asyncio.gather(*(job.result(timeout=30) for job in jobs))
        # The idle queue polls with one slot; the busy one runs on the other three.
        assert peak >= 3
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)
