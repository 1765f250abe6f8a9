"""A connection error names its cause: refused, unknown host or timed out (issue 9, item 13).

Before, every one said ``(TimeoutError)``: nats-py retries a failed connect until naq's overall
connect timeout, and the causes it reported went nowhere. Traffic stays on this machine: the
refused port and the silent listener are on 127.0.0.1, and the unknown host is a name longer
than DNS allows (over 253 characters), which the resolver refuses before sending any query (a
name such as ``no-such-host.invalid`` would be asked of the configured name server).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from naq.client import NaqConnectionError, Queue, cli
from naq.client._cli_common import EXIT_CONNECTION
from naq.protocol import Settings

UNRESOLVABLE_HOST = ".".join(["no-such-host" * 5] * 5)
"""Five 60-character labels: a name too long for DNS, so it fails to resolve locally."""


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word (no NATS INFO)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def _connect_error(url: str) -> str:
    settings = Settings.from_env({}, nats_url=url, connect_timeout=1.0)
    with pytest.raises(NaqConnectionError) as caught:
        await Queue(settings=settings).enqueue("harness.jobs:add", 1, 2)
    return str(caught.value)


async def test_a_refused_port_says_connection_refused() -> None:
    port = _unused_port()
    message = await _connect_error(f"nats://127.0.0.1:{port}")
    assert f"cannot connect to NATS at nats://127.0.0.1:{port} within 1.0 s: connection refused" in message
    assert "ConnectionRefusedError" in message
    assert "timed out" not in message


async def test_an_unknown_host_says_unknown_host() -> None:
    assert len(UNRESOLVABLE_HOST) > 253
    message = await _connect_error(f"nats://{UNRESOLVABLE_HOST}:4222")
    assert "unknown host, its name does not resolve" in message
    assert "timed out" not in message


async def test_a_server_that_never_answers_says_timed_out(silent_port: int) -> None:
    message = await _connect_error(f"nats://127.0.0.1:{silent_port}")
    assert message.endswith("within 1.0 s: timed out, the server did not answer"), message


def test_the_cli_prints_the_cause_and_exits_with_the_connection_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CONNECT_TIMEOUT", "1")
    port = _unused_port()
    result = CliRunner().invoke(cli.app, ["list-workers", "--nats-url", f"nats://127.0.0.1:{port}"])
    assert result.exit_code == EXIT_CONNECTION, result.output
    assert "connection refused" in result.output
