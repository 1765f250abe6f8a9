"""Oversized jobs: refused by naq before publishing, with their size and the server's limit.

The server counts payload plus header block against its ``max_payload`` and closes the connection
of a client that sends more; nats-py checks the payload alone. So naq measures each message as
the server does (``naq.protocol.sizes.message_size``), and these tests check that the measure and
the server agree to the byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from harness.jetstream_api import stream_info
from harness.servers import NatsServer
from harness.waiting import async_wait_for
from naq.client import JobTooLargeError, MessageTooLargeError, Queue, close
from naq.client._acks import publish_acked
from naq.client._connection import Connection, get_connection, open_connection
from naq.client._options import JobOptions, build_envelope
from naq.protocol import Settings, message_size, names

ADD = "harness.jobs:add"


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue on the test server; the loop's naq connections closed after."""
    yield Queue(settings=test_settings)
    await close()


@pytest.fixture
async def connection(test_settings: Settings) -> AsyncIterator[Connection]:
    """A naq connection of its own, closed after the test."""
    opened = await open_connection(test_settings)
    yield opened
    await opened.nc.close()


async def _queued(nc: Any) -> int:
    info = await stream_info(nc, names.JOBS_STREAM)
    return int(info["state"]["messages"])


async def test_an_oversized_job_raises_job_too_large_error_with_its_size_and_the_limit(
    queue: Queue, test_settings: Settings, nc: Any
) -> None:
    with pytest.raises(JobTooLargeError) as caught:
        await queue.enqueue(ADD, "x" * 2_000_000, 1)
    connection = await get_connection(test_settings)
    limit = connection.nc.max_payload
    error = caught.value
    assert error.limit == limit
    assert error.size > 2_000_000
    assert f"{error.size} bytes" in str(error)
    assert f"{limit} bytes" in str(error)
    assert await _queued(nc) == 0
    # Nothing was sent, so the connection is intact and the next job goes through.
    assert connection.nc.is_connected
    await queue.enqueue(ADD, 1, 2)
    assert await _queued(nc) == 1


async def test_a_job_whose_headers_take_it_over_the_limit_is_refused_before_sending(
    queue: Queue, test_settings: Settings, nc: Any
) -> None:
    """The payload alone fits (nats-py would send it); with its Nats-Msg-Id header it does not."""
    connection = await get_connection(test_settings)
    limit = connection.nc.max_payload
    job_id = "j" * 64
    probe = build_envelope(ADD, ("",), {}, JobOptions(job_id=job_id), queue.name, test_settings)
    overhead = len(probe.encode())
    padding = limit - overhead - 30  # payload 30 bytes (give or take the timestamp's digits) under the limit
    envelope = build_envelope(ADD, ("x" * padding,), {}, JobOptions(job_id=job_id), queue.name, test_settings)
    headers = {names.HEADER_MSG_ID: job_id}
    assert len(envelope.encode()) < limit < message_size(envelope.encode(), headers)

    with pytest.raises(JobTooLargeError) as caught:
        await queue.enqueue(ADD, "x" * padding, job_id=job_id)
    assert caught.value.size > limit
    assert connection.nc.is_connected  # the server never saw it, so it did not close the connection
    assert await _queued(nc) == 0


async def test_message_size_agrees_with_the_server_to_the_byte(
    connection: Connection, js: Any, nats_url: str, nats_server: NatsServer
) -> None:
    """max_payload bytes (payload + headers) are accepted by the server; one more is refused by
    naq before sending, and the server itself refuses that one too (it closes the connection)."""
    await js.add_stream(name="sizes", subjects=["sizes.>"])
    limit = connection.nc.max_payload
    headers = {"Nats-Msg-Id": "exact", "X-Padding": "p" * 100}
    data = b"d" * (limit - message_size(b"", headers))
    assert message_size(data, headers) == limit

    ack = await publish_acked(connection, "sizes.exact", data, headers)
    assert ack.stream == "sizes"
    stored = await js.get_msg("sizes", ack.seq)
    assert stored.data == data

    with pytest.raises(MessageTooLargeError) as caught:
        await publish_acked(connection, "sizes.over", data + b"d", headers)
    assert (caught.value.size, caught.value.limit) == (limit + 1, limit)
    assert connection.nc.is_connected

    # The same message sent past naq: nats-py checks the payload alone (under the limit) and sends
    # it; the server counts the headers too, logs the size it counted, and closes the connection.
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    raw = await nats.connect(nats_url, max_reconnect_attempts=0, error_cb=on_error)
    try:
        await raw.publish("sizes.over", data + b"d", headers=headers)
        await async_wait_for(lambda: raw.is_closed, timeout=10, what="the server closing the connection")
    finally:
        await raw.close()
    counted = f"maximum payload exceeded: {limit + 1} vs {limit}"
    await async_wait_for(lambda: counted in nats_server.log_tail(500), timeout=10, what="the server's log line")
    assert (await js.stream_info("sizes")).state.messages == 1


async def test_a_kv_write_is_measured_with_the_headers_nats_py_adds_and_refused_by_naq(
    connection: Connection, js: Any
) -> None:
    """``kv.create`` adds ``Nats-Expected-Last-Subject-Sequence`` itself; nats-py checks only the
    payload. On naq's connection the write is measured whole: at the limit it is stored, one byte
    more is refused by naq naming the record (the server never sees it, the connection stays)."""
    await js.create_key_value(bucket="sizes_kv")
    kv = await connection.js.key_value("sizes_kv")
    limit = connection.nc.max_payload
    headers = {names.HEADER_EXPECTED_LAST_SUBJECT_SEQUENCE: "0"}
    prefix = b'{"v":1,"record":"probe","pad":"'
    exact = prefix + b"p" * (limit - message_size(b"", headers) - len(prefix) - 2) + b'"}'
    assert message_size(exact, headers) == limit
    assert await kv.create("exact", exact) == 1
    over = exact[:-2] + b'p"}'
    with pytest.raises(MessageTooLargeError) as caught:
        await kv.create("over", over)
    assert (caught.value.size, caught.value.limit) == (limit + 1, limit)
    assert "a probe record of" in str(caught.value)
    assert connection.nc.is_connected
    assert (await kv.get("exact")).value == exact
