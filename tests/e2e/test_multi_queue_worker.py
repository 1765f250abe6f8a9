"""A worker serving several queues keeps serving every one of them.

The queues' fetch loops share one concurrency bound. A loop that lingered for more free slots
while another loop took them used to get none, take that for "stopping" and end for good: the
worker went on serving only some of its queues.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import naq.client
from harness.processes import ProcessGroup
from harness.worker_processes import consumer_state, spawn_worker, wait_registered, worker_logs
from naq.client import Queue

QUEUES = ("multi0", "multi1", "multi2", "multi3")


@pytest.fixture
async def client(client_env: dict[str, str]) -> AsyncIterator[None]:
    """The test process's client uses the worker's settings; its connections close afterwards."""
    yield
    await naq.client.close()


async def test_worker_with_four_queues_drains_every_queue(
    client: None, processes: ProcessGroup, naq_env: dict[str, str], js: Any
) -> None:
    worker = spawn_worker(processes, naq_env, "multi", "--allow-module", "harness", concurrency=8, queues=QUEUES)
    await wait_registered(processes, {"multi": worker})

    handles = [
        job
        for name in QUEUES
        for job in await Queue(name).enqueue_many("harness.jobs:add", [[i, 1] for i in range(60)])
    ]
    try:
        values = await asyncio.wait_for(asyncio.gather(*(job.result(timeout=30) for job in handles)), 35)
    except TimeoutError:
        states = {name: await consumer_state(js, name) for name in QUEUES}
        raise AssertionError(
            f"not every queue was served; (pending, ack pending) per queue: {states}\n"
            f"{worker_logs(processes, [worker])}"
        ) from None
    assert values == [i + 1 for _ in QUEUES for i in range(60)]
