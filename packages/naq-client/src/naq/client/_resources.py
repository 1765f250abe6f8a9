"""Creating naq's streams, consumers and buckets on first use, from naq.protocol's specs.

Missing resources are created with naq's configuration. An existing stream whose configuration
differs materially is reported (a warning, and :func:`resource_drift`), never deleted or
recreated. Queue consumers are naq's own: their ack wait and max ack pending are set from naq's
settings on every start, not left to whichever worker came first. Each resource is checked once
per connection, never per job.

A component only looks a stream up (``STREAM.INFO``) when it exists; it needs the right to create
one only when it is missing. Under least privilege (docs/security.md) only the admin's
``naq setup`` (:func:`setup_resources`) creates and updates streams and buckets: a component
whose user may not create a missing stream fails at once with :class:`ResourceMissingError`,
which says to run that step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import nats.js.errors
from loguru import logger
from nats.js.kv import KeyValue

from naq.client._connection import Connection
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
from naq.protocol import JetStreamError, NaqConnectionError, config_differences, resources
from naq.protocol.resources import BucketSpec, ConsumerSpec, StreamSpec

__all__ = [
    "SETUP_HINT",
    "ResourceMissingError",
    "SetupOutcome",
    "ensure_bucket",
    "ensure_queue_consumer",
    "ensure_stream",
    "kv",
    "kv_value",
    "resource_drift",
    "setup_resources",
]

SETUP_HINT: Final = "run `naq setup` once as a NATS user allowed to create streams (see docs/security.md)"


class ResourceMissingError(JetStreamError):
    """A stream or bucket naq needs does not exist and this user may not create it."""

    def __init__(self, stream: str, refusal: str) -> None:
        super().__init__(
            f"stream {stream} does not exist and this NATS user may not create it; {SETUP_HINT} ({refusal})"
        )
        self.stream = stream


async def ensure_stream(connection: Connection, spec: StreamSpec) -> None:
    """Create stream ``spec`` if missing; report it if it exists with another configuration."""
    if spec.name in connection.ensured:
        return
    async with connection.ensure_lock:
        if spec.name in connection.ensured:
            return
        try:
            info = await js_api(connection, f"STREAM.INFO.{spec.name}")
        except JetStreamAPIError as exc:
            if exc.code != STREAM_NOT_FOUND:
                raise
            info = await _create(connection, spec)
        differences = config_differences(spec.api_config(), info["config"])
        if differences:
            connection.state.setdefault("drift", {})[spec.name] = differences
            logger.warning(
                "stream {} differs from naq's configuration (left as it is; `naq setup` updates it): {}",
                spec.name,
                "; ".join(differences),
            )
        connection.ensured.add(spec.name)


async def _create(connection: Connection, spec: StreamSpec) -> dict[str, Any]:
    try:
        return await js_api(connection, f"STREAM.CREATE.{spec.name}", spec.api_config())
    except NaqConnectionError as exc:
        if "permissions violation" not in str(exc).lower():
            raise
        raise ResourceMissingError(spec.name, str(exc)) from exc


@dataclass(frozen=True, slots=True)
class SetupOutcome:
    """What :func:`setup_resources` did with one stream."""

    stream: str
    action: Literal["created", "updated", "unchanged", "failed"]
    detail: str = ""
    """For ``updated``: what differed; for ``failed``: the server's reason."""


async def setup_resources(connection: Connection) -> list[SetupOutcome]:
    """Create every stream and bucket naq uses, and update those whose configuration differs from
    naq's, with this connection's settings (replicas, limits). An update the server refuses (e.g.
    a retention change) is reported as ``failed``, never done by deleting the stream."""
    outcomes = []
    for spec in resources.all_streams(connection.settings):
        config = spec.api_config()
        try:
            info = await js_api(connection, f"STREAM.INFO.{spec.name}")
        except JetStreamAPIError as exc:
            if exc.code != STREAM_NOT_FOUND:
                outcomes.append(SetupOutcome(spec.name, "failed", exc.description))
                continue
            try:
                await js_api(connection, f"STREAM.CREATE.{spec.name}", config)
            except (JetStreamAPIError, NaqConnectionError) as error:
                outcomes.append(SetupOutcome(spec.name, "failed", _reason(error)))
            else:
                outcomes.append(SetupOutcome(spec.name, "created"))
            continue
        differences = config_differences(config, info["config"])
        if not differences:
            outcomes.append(SetupOutcome(spec.name, "unchanged"))
            continue
        try:
            await js_api(connection, f"STREAM.UPDATE.{spec.name}", config)
        except (JetStreamAPIError, NaqConnectionError) as error:
            outcomes.append(SetupOutcome(spec.name, "failed", f"{'; '.join(differences)}: {_reason(error)}"))
        else:
            outcomes.append(SetupOutcome(spec.name, "updated", "; ".join(differences)))
    connection.ensured.difference_update(outcome.stream for outcome in outcomes)
    return outcomes


def _reason(error: Exception) -> str:
    return error.description if isinstance(error, JetStreamAPIError) else str(error)


async def ensure_queue_consumer(connection: Connection, queue: str) -> ConsumerSpec:
    """Create or update the durable consumer of ``queue`` to naq's configuration."""
    spec = resources.queue_consumer(queue, connection.settings)
    key = f"consumer:{spec.durable_name}"
    if key not in connection.ensured:
        await ensure_stream(connection, resources.jobs_stream(connection.settings))
        body = {"stream_name": spec.stream, "config": spec.api_config()}
        await js_api(connection, f"CONSUMER.CREATE.{spec.stream}.{spec.durable_name}", body)
        connection.ensured.add(key)
    return spec


async def ensure_bucket(connection: Connection, spec: BucketSpec) -> KeyValue:
    """The KV bucket ``spec`` describes, created if missing; the handle is cached per connection."""
    handles: dict[str, KeyValue] = connection.state.setdefault("kv", {})
    handle = handles.get(spec.bucket)
    if handle is None:
        await ensure_stream(connection, spec.stream())
        handle = await connection.js.key_value(spec.bucket)
        handles[spec.bucket] = handle
    return handle


async def kv(connection: Connection, bucket: str) -> KeyValue:
    """Handle of naq bucket ``bucket`` (by name), created with naq's configuration if missing."""
    [spec] = [b for b in resources.all_buckets(connection.settings) if b.bucket == bucket]
    return await ensure_bucket(connection, spec)


async def kv_value(connection: Connection, bucket: str, key: str) -> bytes | None:
    """The value of ``key`` in naq bucket ``bucket``, or ``None`` if it is missing, deleted or empty."""
    handle = await kv(connection, bucket)
    try:
        entry = await handle.get(key)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    return entry.value or None


def resource_drift(connection: Connection) -> dict[str, list[str]]:
    """Streams found with a configuration other than naq's, and how they differ."""
    return dict(connection.state.get("drift", {}))
