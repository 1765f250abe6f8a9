"""Redeliveries never re-run a job that is running or that already ended."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from harness.jobs import runs
from harness.registry import is_registered
from harness.waiting import async_wait_for
from naq.client import JobExecutionError, Queue
from naq.client._connection import close_connections, get_connection
from naq.client._resources import ensure_queue_consumer, kv
from naq.protocol import JobEnvelope, ResultRecord, Settings, names
from naq.protocol.subjects import result_subject
from naq.worker import Worker


@contextlib.asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    """Run ``workers`` in this loop until the block ends."""
    tasks = [asyncio.create_task(w.run(install_signal_handlers=False)) for w in workers]
    try:
        for worker in workers:
            await async_wait_for(
                lambda w=worker: is_registered(w.settings, w.worker_id),
                timeout=20,
                what=f"{worker.worker_id} registered",
            )
        yield
    finally:
        for worker in workers:
            worker.request_stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        await close_connections()


async def _consumer_info(nc: Any) -> dict[str, Any]:
    reply = await nc.request(f"$JS.API.CONSUMER.INFO.{names.JOBS_STREAM}.naq-worker-default", b"", timeout=5)
    return json.loads(reply.data)


async def test_a_job_longer_than_the_ack_wait_runs_exactly_once(test_settings: Settings, nc: Any) -> None:
    assert test_settings.ack_wait == 2.0
    directory = tempfile.mkdtemp()
    workers = [Worker("default", concurrency=1, settings=test_settings) for _ in range(2)]
    async with running(*workers):
        job = await Queue(settings=test_settings).enqueue("harness.jobs:sleep_then_record", directory, "long", 5.0)
        assert await job.result(timeout=30) == "long"
        info = await _consumer_info(nc)
    assert len(runs(directory, "long")) == 1
    assert info["num_redelivered"] == 0


async def test_a_redelivered_job_whose_result_says_completed_is_acked_without_running(
    test_settings: Settings, js: Any, nc: Any
) -> None:
    directory = tempfile.mkdtemp()
    queue = Queue(settings=test_settings)
    job = await queue.enqueue("harness.jobs:record_run", directory, "done-already")
    # Take the job with naq's own consumer and let its ack wait lapse, as if a worker had stored the
    # result and died before acknowledging.
    connection = await get_connection(test_settings)
    await ensure_queue_consumer(connection, "default")
    await kv(connection, names.RESULTS_BUCKET)
    subscription = await js.pull_subscribe_bind("naq-worker-default", stream=names.JOBS_STREAM)
    [message] = await subscription.fetch(1, timeout=5)
    envelope = JobEnvelope.decode(message.data)
    record = ResultRecord(
        job_id=envelope.job_id, queue="default", status="completed", attempts=1, finished_at=time.time(), value="x"
    )
    await js.publish(result_subject(envelope.job_id), record.encode())
    second = Worker("default", concurrency=1, settings=test_settings)
    async with running(second):
        await async_wait_for(lambda: _no_pending(nc), timeout=20, what="redelivered job acked")
    assert runs(directory, "done-already") == []
    assert await job.result(timeout=5) == "x"


async def _no_pending(nc: Any) -> bool:
    info = await _consumer_info(nc)
    return info["num_pending"] == 0 and info["num_ack_pending"] == 0


async def test_keyboard_interrupt_in_a_job_fails_it_and_the_worker_goes_on(test_settings: Settings) -> None:
    queue = Queue(settings=test_settings)
    async with running(Worker("default", concurrency=2, settings=test_settings)):
        job = await queue.enqueue("harness.jobs:raise_keyboard_interrupt", max_retries=3)
        with pytest.raises(JobExecutionError, match="KeyboardInterrupt"):
            await job.result(timeout=20)
        assert await (await queue.enqueue("harness.jobs:add", 2, 3)).result(timeout=20) == 5
