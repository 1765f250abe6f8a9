"""The 3-node cluster fixture: a replicated naq stream survives the loss of a node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest

from harness.jetstream_api import create_stream, stream_info
from harness.servers import NatsCluster
from harness.waiting import async_wait_for
from naq.protocol import Settings, names, resources
from naq.protocol.subjects import queue_subject

# What a client sees while a cluster elects new leaders: worth retrying until a deadline.
_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)


async def _until_ok(call: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    """Retry ``call`` through leader elections; its result once it succeeds."""
    results: list[Any] = []

    async def attempt() -> bool:
        try:
            results.append(await call())
        except _TRANSIENT:
            return False
        except RuntimeError as exc:  # raw API errors: peers still joining the meta group
            if "insufficient resources" in str(exc) or "no suitable peers" in str(exc):
                return False
            raise
        return True

    await async_wait_for(attempt, timeout=timeout, interval=0.1, what=what)
    return results[-1]


@pytest.mark.cluster
async def test_replicated_stream_keeps_working_with_one_node_down(nats_cluster: NatsCluster) -> None:
    nc = await nats.connect(servers=nats_cluster.urls, connect_timeout=5, reconnect_time_wait=0.2)
    try:
        js = nc.jetstream(timeout=2)
        spec = resources.jobs_stream(Settings.from_env({}, replicas=3))
        await _until_ok(lambda: create_stream(nc, spec), "replicated stream created")
        info = await stream_info(nc, names.JOBS_STREAM)
        assert info["config"]["num_replicas"] == 3
        assert len(info["cluster"]["replicas"]) == 2
        for i in range(5):
            await js.publish(queue_subject("default"), f"before-{i}".encode())

        # Take down the stream's leader: the hardest node to lose.
        [victim] = [node for node in nats_cluster.nodes if node.name == info["cluster"]["leader"]]
        victim.kill()

        for i in range(5):
            payload = f"after-{i}".encode()
            await _until_ok(lambda p=payload: js.publish(queue_subject("default"), p), f"publish {i} after failover")
        sub = await _until_ok(
            lambda: js.pull_subscribe(queue_subject("default"), durable="reader", stream=names.JOBS_STREAM),
            "consumer created after failover",
        )
        received: list[bytes] = []

        async def read_all() -> bool:
            try:
                for message in await sub.fetch(10, timeout=1):
                    received.append(message.data)
                    await message.ack()
            except nats.errors.TimeoutError:
                pass
            return len(received) >= 10

        await async_wait_for(read_all, timeout=30, what="every message read back")
        expected = [f"before-{i}".encode() for i in range(5)] + [f"after-{i}".encode() for i in range(5)]
        assert sorted(received) == sorted(expected)
    finally:
        await nc.close()
