"""Test helper: create and inspect naq's resources from their specs through the raw JetStream API."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from harness.servers import NatsServer
from harness.waiting import async_wait_for
from naq.protocol import Record
from naq.protocol.resources import ConsumerSpec, StreamSpec

R = TypeVar("R", bound=Record)

__all__ = [
    "consumer_counts",
    "create_consumer",
    "create_stream",
    "delete_all_streams",
    "js_api",
    "kv_record",
    "stream_info",
]


async def js_api(nc: Any, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one JetStream API request; raise ``RuntimeError`` with the server's error if it refuses."""
    reply = await nc.request(f"$JS.API.{subject}", json.dumps(body or {}).encode(), timeout=10)
    data = json.loads(reply.data)
    if "error" in data:
        raise RuntimeError(f"{subject}: {data['error']}")
    return data


async def create_stream(nc: Any, spec: StreamSpec) -> dict[str, Any]:
    """Create (or idempotently re-create) the stream ``spec`` describes; returns the stream info."""
    return await js_api(nc, f"STREAM.CREATE.{spec.name}", spec.api_config())


async def stream_info(nc: Any, name: str) -> dict[str, Any]:
    """The server's info for stream ``name``."""
    return await js_api(nc, f"STREAM.INFO.{name}")


async def create_consumer(nc: Any, spec: ConsumerSpec) -> dict[str, Any]:
    """Create the durable consumer ``spec`` describes; returns the consumer info."""
    body = {"stream_name": spec.stream, "config": spec.api_config()}
    return await js_api(nc, f"CONSUMER.CREATE.{spec.stream}.{spec.durable_name}", body)


async def consumer_counts(nc: Any) -> dict[str, int]:
    """Every stream's consumer count (``state.consumer_count``), by stream name."""
    js = nc.jetstream()
    return {info.config.name: info.state.consumer_count for info in await js.streams_info()}


async def delete_all_streams(nc: Any, server: NatsServer) -> None:
    """Delete every stream (and so every bucket) on ``server``, and wait until their files are gone."""
    js = nc.jetstream()
    for info in await js.streams_info():
        await js.delete_stream(info.config.name)
    await async_wait_for(
        lambda: not server.stream_removals_pending(), timeout=10, interval=0.01, what="deleted streams' files removed"
    )


async def kv_record(js: Any, bucket: str, key: str, cls: type[R]) -> R | None:
    """The record at ``key`` in KV ``bucket``, read with plain nats-py; ``None`` if there is none."""
    import nats.js.errors  # the tests that read records have nats-py; not every harness user does

    try:
        entry = await (await js.key_value(bucket)).get(key)
    except nats.js.errors.NotFoundError:  # no bucket, no key, or a deleted key
        return None
    return cls.decode(entry.value) if entry.value else None
