"""Fixtures of the worker tests: a naq connection with a worker's streams and buckets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from harness.worker_parts import PartsHost, QueueTap, ensure_worker_resources
from naq.client.runtime import Connection, close_connections, get_connection
from naq.protocol import Settings


@pytest.fixture
async def connection(test_settings: Settings) -> AsyncIterator[Connection]:
    """naq's connection to the clean session server, with every stream and bucket a worker uses."""
    connection = await get_connection(test_settings)
    await ensure_worker_resources(connection)
    yield connection
    await close_connections()


@pytest.fixture
def host(connection: Connection, test_settings: Settings) -> PartsHost:
    """A worker as its pieces see it (counts what it is told, runs nothing itself)."""
    return PartsHost(connection, test_settings)


@pytest.fixture
def tap(connection: Connection) -> QueueTap:
    """Publishes onto the default queue and fetches its deliveries."""
    return QueueTap(connection)
