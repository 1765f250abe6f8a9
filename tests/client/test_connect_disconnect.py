"""The original naq's ``connect()`` and ``disconnect()``, and their sync twins (issue 9, item 14)."""

from __future__ import annotations

import asyncio

import pytest

import naq.client
from naq.client import ConfigurationError, NaqConnectionError, Queue, _connection, _sync
from naq.protocol import Settings


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _open_connections(loop: asyncio.AbstractEventLoop) -> list[_connection.Connection]:
    return [c for c in _connection._by_loop.get(loop, {}).values() if not c.closed]


async def test_connect_opens_the_connection_later_calls_share_and_disconnect_closes_it(nats_url: str) -> None:
    nc = await naq.client.connect(nats_url)
    assert nc.is_connected
    [shared] = _open_connections(asyncio.get_running_loop())
    assert shared.nc is nc
    job = await Queue(nats_url=nats_url).enqueue("harness.jobs:add", 1, 2)
    assert [c.nc for c in _open_connections(asyncio.get_running_loop())] == [nc]  # no second connection

    await naq.client.disconnect()
    assert nc.is_closed
    assert _open_connections(asyncio.get_running_loop()) == []
    # The next call opens a connection again.
    assert await naq.client.purge_queue(nats_url=nats_url) == 1
    assert job.job_id
    await naq.client.close()
    assert _open_connections(asyncio.get_running_loop()) == []


async def test_connect_takes_the_original_url_name_or_nats_url(nats_url: str) -> None:
    assert (await naq.client.connect(url=nats_url)).is_connected
    assert (await naq.client.connect(nats_url=nats_url)).is_connected
    assert len(_open_connections(asyncio.get_running_loop())) == 1
    with pytest.raises(ConfigurationError, match="not both"):
        await naq.client.connect(nats_url, nats_url=nats_url)
    await naq.client.disconnect()


async def test_connect_to_nothing_raises_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CONNECT_TIMEOUT", "0.5")
    with pytest.raises(NaqConnectionError):
        await naq.client.connect(f"nats://127.0.0.1:{_free_port()}")


def test_connect_sync_and_disconnect_sync_open_and_close_the_sync_loops_connection(test_settings: Settings) -> None:
    url = test_settings.nats_url
    loop = _sync._background.loop()
    naq.client.disconnect_sync()
    assert _open_connections(loop) == []

    assert naq.client.connect_sync(url) is None
    [opened] = _open_connections(loop)
    naq.client.enqueue_sync("harness.jobs:add", 1, 2, nats_url=url)
    assert _open_connections(loop) == [opened]

    naq.client.disconnect_sync()
    assert opened.closed
    assert _open_connections(loop) == []
    assert naq.client.purge_queue_sync(None, url) == 1  # reconnects on the next call
    naq.client.disconnect_sync()
