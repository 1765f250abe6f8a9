"""Reading the worker registry (``naq_workers``)."""

from __future__ import annotations

import nats.js.errors

from naq.client._connection import Connection
from naq.client._resources import kv, kv_value
from naq.protocol import SerializationError, WorkerHeartbeat, names

__all__ = ["read_workers"]


async def read_workers(connection: Connection) -> list[WorkerHeartbeat]:
    """Every live worker's latest heartbeat, by worker id (records that expired are gone)."""
    bucket = await kv(connection, names.WORKERS_BUCKET)
    try:
        keys = await bucket.keys()
    except nats.js.errors.NoKeysError:
        return []
    workers = []
    for key in sorted(keys):
        value = await kv_value(connection, names.WORKERS_BUCKET, key)
        if value is None:
            continue  # left between listing and reading
        try:
            workers.append(WorkerHeartbeat.decode(value))
        except SerializationError:
            continue  # not a naq worker record: not ours to show
    return workers
