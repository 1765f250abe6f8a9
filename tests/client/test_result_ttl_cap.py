"""A result TTL past what nats-server can count is capped, so the result is kept, not dropped.

nats-server accepts a ``Nats-TTL`` of centuries (``result_ttl=2**62``) and then drops the message
within a quarter second (its expiry overflows). Found by the worker's fuzzing
(tests/worker/test_message_fuzz.py, which covers the worker's results); here the client's own
result write, the cancel of a queued job.
"""

from __future__ import annotations

import asyncio
from typing import Any

import naq.client
from harness.jetstream_api import kv_record
from naq.client import JobStatus, Queue, cancel_job
from naq.protocol import ResultRecord, Settings, names

OBSERVED = 1.0
"""Seconds the result is watched: the server sweeps expired messages about four times a second."""


async def test_a_cancelled_job_kept_for_centuries_keeps_its_result(test_settings: Settings, js: Any) -> None:
    queue = Queue(settings=test_settings)
    try:
        job = await queue.enqueue("harness.jobs:add", 1, 2, result_ttl=2**62)
        assert await cancel_job(job.job_id, nats_url=list(test_settings.nats_url)) is True
        assert await job.status() == JobStatus.CANCELLED
        for _ in range(int(OBSERVED / 0.1) + 1):  # an observation window, bounded
            record = await kv_record(js, names.RESULTS_BUCKET, job.job_id, ResultRecord)
            assert record is not None, "the cancelled result was dropped after it was stored"
            assert record.status == "cancelled"
            await asyncio.sleep(0.1)
    finally:
        await naq.client.close()
