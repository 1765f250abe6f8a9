"""Reading the worker registry (``naq_workers``) in one batched direct get, without a consumer."""

from __future__ import annotations

from naq.client._connection import Connection
from naq.client._direct import bucket_values
from naq.protocol import SerializationError, WorkerHeartbeat, resources

__all__ = ["read_workers"]


async def read_workers(connection: Connection) -> list[WorkerHeartbeat]:
    """Every live worker's latest heartbeat, by worker id (records that expired are gone)."""
    values = await bucket_values(connection, resources.workers_bucket(connection.settings))
    workers = []
    for key in sorted(values):
        try:
            workers.append(WorkerHeartbeat.decode(values[key].data))
        except SerializationError:
            continue  # not a naq worker record: not ours to show
    return workers
