"""Acknowledged publishes (``naq.client._acks``): answers, refusals, missing streams, timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import nats.errors
import nats.js.errors
import pytest

from harness.waiting import async_wait_for
from naq.client._acks import publish_acked
from naq.client._connection import Connection, open_connection
from naq.protocol import Settings


@pytest.fixture
async def connection(test_settings: Settings) -> AsyncIterator[Connection]:
    """A naq connection of its own, closed after the test."""
    opened = await open_connection(test_settings)
    yield opened
    await opened.nc.close()


@pytest.fixture
async def stream(js: Any) -> str:
    """A stream on ``acks.>`` keeping one message per subject, refusing a second one."""
    await js.add_stream(
        name="acks", subjects=["acks.>"], max_msgs_per_subject=1, discard="new", discard_new_per_subject=True
    )
    return "acks"


async def test_concurrent_publishes_each_get_their_own_acknowledgement(connection: Connection, stream: str) -> None:
    acks = await asyncio.gather(*(publish_acked(connection, f"acks.{i}", b"x") for i in range(500)))
    assert sorted(ack.seq for ack in acks) == list(range(1, 501))
    assert all(ack.stream == stream for ack in acks)


async def test_a_repeated_message_id_is_acknowledged_as_a_duplicate(connection: Connection, stream: str) -> None:
    first = await publish_acked(connection, "acks.d", b"x", {"Nats-Msg-Id": "same"})
    again = await publish_acked(connection, "acks.d", b"x", {"Nats-Msg-Id": "same"})
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq


async def test_a_refused_message_raises_the_servers_error(connection: Connection, stream: str) -> None:
    await publish_acked(connection, "acks.full", b"1")
    with pytest.raises(nats.js.errors.APIError) as refused:
        await publish_acked(connection, "acks.full", b"2")
    assert refused.value.err_code == 10077  # maximum messages per subject exceeded
    with pytest.raises(nats.js.errors.APIError) as wrong:
        await publish_acked(connection, "acks.other", b"1", {"Nats-Expected-Last-Subject-Sequence": "99"})
    assert wrong.value.err_code == 10071


async def test_no_stream_for_the_subject_fails_at_once(connection: Connection) -> None:
    began = time.monotonic()
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await publish_acked(connection, "nobody.listens", b"x", timeout=5)
    assert time.monotonic() - began < 2.5  # the server's no-responders answer, not the timeout


async def _interest_seen(nc: Any, subject: str) -> bool:
    """Whether ``nc``'s server routes ``subject`` to a subscriber (a request times out, no 503)."""
    try:
        await nc.request(subject, b"", timeout=0.1)
    except nats.errors.NoRespondersError:
        return False
    except nats.errors.TimeoutError:
        return True
    return True


async def test_an_unanswered_publish_times_out(connection: Connection, nc: Any) -> None:
    silent = await nc.subscribe("silent.>")  # a subscriber that never answers: no stream, no 503
    await nc.flush()
    # The server can answer another connection's publish with "no responders" for a few
    # milliseconds after the subscriber's flush returned (nats-server 2.15.1, about 1 publish in
    # 10), so wait until the publishing connection sees the interest.
    await async_wait_for(lambda: _interest_seen(connection.nc, "silent.probe"), what="the silent subscriber")
    began = time.monotonic()
    with pytest.raises(nats.errors.TimeoutError):
        await publish_acked(connection, "silent.x", b"x", timeout=0.5)
    assert 0.5 <= time.monotonic() - began < 0.5 + 2.5
    await silent.unsubscribe()
    # The publisher still works afterwards (its sweeper stopped and starts again).
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await publish_acked(connection, "nobody.listens", b"x", timeout=5)
