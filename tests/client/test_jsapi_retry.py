"""An unanswered read-only JetStream API request (STREAM.INFO, CONSUMER.INFO) is sent again.

A request sent as the connection drops, or while a stream elects a new leader, is never answered;
waiting the whole timeout on it stalled every enqueue 10 s after a server restart or a cluster
node's loss (tests/chaos). A plain nats-server (no JetStream) with the test's own responder on
``$JS.API.>`` stands in for a JetStream that lost the first request of each subject.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from harness.servers import nats_server_binary
from harness.waiting import wait_for
from naq.client import NaqConnectionError, Settings, _jsapi
from naq.client._connection import close_connections, get_connection


def _url(ports: Path) -> str | None:
    for path in ports.glob("*.ports"):
        try:
            return json.loads(path.read_text())["nats"][0]
        except (OSError, ValueError):
            return None  # written but not complete yet
    return None


@pytest.fixture
def core_server(tmp_path: Path) -> Iterator[str]:
    """URL of a nats-server without JetStream on 127.0.0.1 and a random port."""
    ports = tmp_path / "ports"
    ports.mkdir()
    command = [nats_server_binary(), "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", str(ports)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield wait_for(lambda: _url(ports), timeout=10, what="the server's ports file")
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
async def losing_first(core_server: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, list[str]]]:
    """(a naq connection, the API subjects requested): the first request of each subject goes unanswered."""
    monkeypatch.setattr(_jsapi, "_API_TIMEOUT", 1.0)
    monkeypatch.setattr(_jsapi, "_RETRY_AFTER", 0.25)
    responder = await nats.connect(core_server, connect_timeout=5, max_reconnect_attempts=0)
    seen: list[str] = []

    async def answer(msg: Any) -> None:
        seen.append(msg.subject)
        if seen.count(msg.subject) > 1:
            await msg.respond(json.dumps({"answered": msg.subject}).encode())

    await responder.subscribe("$JS.API.>", cb=answer)
    await responder.flush()
    connection = await get_connection(Settings.from_env({}, nats_url=core_server, connect_timeout=2.0))
    try:
        yield connection, seen
    finally:
        await close_connections()
        await responder.close()


@pytest.mark.parametrize("subject", ["STREAM.INFO.naq_jobs", "CONSUMER.INFO.naq_jobs.naq-worker-default"])
async def test_a_lost_info_request_is_sent_again_and_answered_within_the_timeout(
    losing_first: tuple[Any, list[str]], subject: str
) -> None:
    connection, seen = losing_first
    assert await _jsapi.js_api(connection, subject) == {"answered": f"$JS.API.{subject}"}
    assert seen == [f"$JS.API.{subject}"] * 2


async def test_a_request_that_changes_something_is_sent_once_and_fails_after_the_timeout(
    losing_first: tuple[Any, list[str]],
) -> None:
    connection, seen = losing_first
    with pytest.raises(NaqConnectionError, match=r"did not answer STREAM.PURGE.naq_jobs within 1.0 s"):
        await _jsapi.js_api(connection, "STREAM.PURGE.naq_jobs", {"filter": "naq.queue.default"})
    assert seen == ["$JS.API.STREAM.PURGE.naq_jobs"]
