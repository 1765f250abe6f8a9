"""``naq-tui --web`` and ``naq dashboard``: the monitor served to browsers by textual-serve.

The server runs as a real subprocess (its own process group, killed afterwards) against the test
server. A test reads the page as a browser would, opens the websocket the page names, and reads
the monitor's screen from the terminal output textual-serve relays (one monitor process per
websocket). Read-only is the default: the schedule keys are missing from the page's footer unless
the server was started with --allow-actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

import naq.client
from harness.processes import ProcessGroup, console_script
from harness.waiting import async_wait_for
from naq.tui import cli as tui_cli
from naq.tui import web

# ESC [ ... final byte (CSI), ESC ] ... BEL (OSC), and two-byte escapes: what is left is the text.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
_WS_URL = re.compile(r'data-session-websocket-url="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers; then SIGKILL to whatever of the
    group is left (a per-connection monitor textual-serve had started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _start(log_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [console_script("naq-tui"), "--web", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own group: the monitors it starts are stopped with it
        )


@contextlib.asynccontextmanager
async def _served(tmp_path: Path, env: dict[str, str], *args: str) -> AsyncIterator[tuple[str, Path]]:
    """``naq-tui --web --port P ARGS`` running; yields its page's URL once it answers, and its log."""
    port = _free_port()
    log_path = tmp_path / f"web-{port}.log"
    process = _start(log_path, env, "--port", str(port), *args)
    url = f"http://127.0.0.1:{port}/"
    try:
        async with aiohttp.ClientSession() as session:

            async def answers() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"the server exited {process.returncode}:\n{log_path.read_text()}")
                try:
                    async with session.get(url) as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await async_wait_for(answers, timeout=30, interval=0.1, what="the page answers")
        yield url, log_path
    finally:
        _stop_group(process)


async def _screen_until(ws: aiohttp.ClientWebSocketResponse, wanted: str, timeout: float = 30.0) -> str:
    """The text of the terminal output relayed on ``ws`` (escape sequences dropped) until it holds
    ``wanted``; fails after ``timeout`` with what was seen."""
    seen = ""
    deadline = time.monotonic() + timeout
    for _ in range(100_000):  # bounded twice: by the count and by the deadline
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            message = await asyncio.wait_for(ws.receive(), left)
        except TimeoutError:
            break
        if message.type == aiohttp.WSMsgType.BINARY:
            seen += _ESCAPES.sub("", message.data.decode("utf-8", errors="replace"))
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            break
        if wanted in seen:
            return seen
    raise AssertionError(f"{wanted!r} did not arrive within {timeout} s; the screen showed:\n{seen[-3000:]}")


def _web_env(naq_env: dict[str, str]) -> dict[str, str]:
    # No NAQ_NATS_URL: the server must hand --nats-url on to the monitors it starts.
    return {key: value for key, value in naq_env.items() if key != "NAQ_NATS_URL"}


async def test_the_page_and_its_websocket_show_the_monitor(
    client_url: str, naq_env: dict[str, str], tmp_path: Path
) -> None:
    await naq.client.enqueue("harness.jobs:noop", queue_name="seen-on-the-web", nats_url=client_url)
    served = _served(tmp_path, _web_env(naq_env), "--nats-url", client_url)
    async with served as (url, log_path), aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            page = await response.text()
        assert ">naq monitor<" in page, page
        assert "textual.js" in page, page  # textual-serve's page, with its terminal in the browser
        found = _WS_URL.search(page)
        assert found is not None, page
        assert found.group(1) == f"{url.replace('http:', 'ws:')}ws"
        async with session.ws_connect(f"{found.group(1)}?width=120&height=40") as ws:
            screen = await _screen_until(ws, "Queues")
            # The queue shows: the monitor reached the test server through the --nats-url given.
            screen += await _screen_until(ws, "seen-on-the-web")
            assert "Traceback" not in screen, log_path.read_text()


@pytest.mark.parametrize("allow_actions", [False, True], ids=["default", "allow-actions"])
async def test_the_page_is_read_only_unless_actions_are_allowed(
    client_url: str, naq_env: dict[str, str], tmp_path: Path, allow_actions: bool
) -> None:
    args = ["--nats-url", client_url, *(["--allow-actions"] if allow_actions else [])]
    served = _served(tmp_path, _web_env(naq_env), *args)
    async with served as (url, _log_path), aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}ws?width=120&height=40")
        try:
            await _screen_until(ws, "Queues")
            # A key, as the browser's terminal sends it: the schedules screen, whose footer lists its keys.
            await ws.send_str(json.dumps(["stdin", "s"]))
            screen = await _screen_until(ws, "Overview")
            if allow_actions:
                assert "Pause" in screen + await _screen_until(ws, "Pause")
            else:
                assert "Pause" not in screen
                assert "Resume" not in screen
        finally:
            await ws.close()


def test_the_command_run_per_connection_is_read_only_unless_allowed() -> None:
    default = shlex.split(web.monitor_command(None, allow_actions=False))
    assert default == [sys.executable, "-m", "naq.tui", "--read-only"]
    allowed = shlex.split(web.monitor_command("nats://a:4222,nats://b 4222", allow_actions=True))
    # The URL survives the shell textual-serve runs the command with, spaces and all.
    assert allowed == [sys.executable, "-m", "naq.tui", "--nats-url", "nats://a:4222,nats://b 4222"]


def test_without_textual_serve_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import textual_serve.server` raise ImportError, as when it is absent.
    monkeypatch.setitem(sys.modules, "textual_serve", None)
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    ran = CliRunner().invoke(tui_cli.app, ["--web", "--port", str(_free_port())])
    assert ran.exit_code == 4, ran.output
    assert ran.output.strip().splitlines() == ['naq-tui: the web mode needs textual-serve: pip install "naq-tui[web]"']


def test_a_port_in_use_is_a_message_and_exit_code_4(naq_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = subprocess.run(
            [console_script("naq-tui"), "--web", "--port", str(port)],
            env=naq_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert ran.returncode == 4, ran.stdout + ran.stderr
    assert f"naq-tui: cannot serve on 127.0.0.1:{port}:" in ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr


def test_allow_actions_needs_web_and_contradicts_read_only() -> None:
    alone = CliRunner().invoke(tui_cli.app, ["--allow-actions"])
    assert alone.exit_code == 2, alone.output
    assert "only with --web" in alone.output
    both = CliRunner().invoke(tui_cli.app, ["--web", "--read-only", "--allow-actions"])
    assert both.exit_code == 2, both.output
    assert "contradicts --read-only" in both.output


def test_naq_dashboard_is_a_command_of_the_installed_naq(processes: ProcessGroup) -> None:
    process = processes.spawn("naq", "dashboard", "--help")
    assert process.wait(30) == 0
    help_text = processes.output(process)
    for option in ("--host", "--port", "--nats-url", "--allow-actions", "--public-url"):
        assert option in help_text, help_text
    assert "no authentication" in help_text
