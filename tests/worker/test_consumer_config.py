"""The queue consumer's settings come from naq's configuration, whoever created it first."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness.jetstream_api import create_consumer, create_stream
from harness.registry import is_registered
from harness.waiting import async_wait_for
from naq.client import list_workers
from naq.protocol import Settings, names, resources
from naq.worker import Worker


async def test_a_worker_resets_ack_wait_and_max_ack_pending_to_naqs(test_settings: Settings, nc: Any) -> None:
    stale = Settings.from_env(test_settings.as_env(), ack_wait=30.0, max_ack_pending=7)
    await create_stream(nc, resources.jobs_stream(stale))
    await create_consumer(nc, resources.queue_consumer("default", stale))
    worker = Worker("default", concurrency=2, settings=test_settings)
    task = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        await async_wait_for(lambda: is_registered(test_settings, worker.worker_id), timeout=10, what="worker up")
        reply = await nc.request(f"$JS.API.CONSUMER.INFO.{names.JOBS_STREAM}.naq-worker-default", b"", timeout=5)
        config = json.loads(reply.data)["config"]
        assert config["ack_wait"] == int(test_settings.ack_wait * 10**9)
        assert config["max_ack_pending"] == test_settings.max_ack_pending
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)
    assert await list_workers(nats_url=test_settings.nats_url) == []
