"""The console scripts on a refused login, a failed TLS handshake, a refused port, an unknown host.

Each process is configured only through the ``NAQ_*`` variables. It must exit with the connection
error code (3) and one line saying what failed, without a traceback, and, for a refusal retrying
cannot help, long before its (deliberately long) connect timeout. The monitor stays up and shows
the reason with a hint about the login, not about a missing server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import naq.client
from harness import jobs
from harness.commands import run_script
from harness.processes import ProcessGroup
from harness.secure_servers import PASSWORD, SecureServer, secure_server
from harness.waiting import async_wait_for
from naq.client import Queue, Settings
from naq.client.runtime import EXIT_CONNECTION
from naq.tui import make_app
from naq.tui.widgets import StatusBar
from naq.tui.widgets.status_bar import LOGIN_HINT

TESTS_DIR = Path(__file__).parents[1]
LONG_TIMEOUT = 30.0
"""The connect timeout of the refusals: the process must exit long before it."""

UNRESOLVABLE_HOST = ".".join(["no-such-host" * 5] * 5)
"""A name longer than DNS allows: it fails to resolve without asking any name server."""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SecureServer]]:
    """The secure servers the cases below refuse on, one per method, for the module."""
    with contextlib.ExitStack() as stack:
        yield {
            method: stack.enter_context(secure_server(tmp_path_factory.mktemp(f"cli-{method}"), method))
            for method in ("password", "token", "nkey", "creds", "tls", "mtls")
        }


def _process_env(naq: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH", "")) if p)
    return {**env, "NAQ_NATS_CONNECT_TIMEOUT": str(LONG_TIMEOUT), **naq}


WORKER = ("naq-worker", "default", "--allow-module", "harness")
SCHEDULER = ("naq-scheduler",)
NAQ = ("naq", "list-workers")

REFUSALS: dict[str, tuple[tuple[str, ...], str, Callable[[SecureServer], dict[str, str]], str]] = {
    "worker, wrong password": (
        WORKER, "password", lambda s: s.with_env(NAQ_NATS_PASSWORD="wrong"), "authorization failed",
    ),
    "scheduler, wrong token": (
        SCHEDULER, "token", lambda s: s.with_env(NAQ_NATS_TOKEN="wrong"), "authorization failed",
    ),
    "naq, unknown nkey": (
        NAQ, "nkey", lambda s: s.with_env(NAQ_NATS_NKEY_SEED=str(s.unknown_nkey_seed())), "authorization failed",
    ),
    "worker, creds of another account": (
        WORKER, "creds", lambda s: s.with_env(NAQ_NATS_CREDS=str(s.foreign_creds())), "authorization failed",
    ),
    "scheduler, untrusted server certificate": (
        SCHEDULER, "tls", lambda s: s.with_env(NAQ_NATS_TLS_CA=str(s.untrusted_ca())), "TLS verification failed",
    ),
    "naq, missing client certificate": (
        NAQ, "mtls", lambda s: s.with_env(NAQ_NATS_TLS_CERT=None, NAQ_NATS_TLS_KEY=None),
        "TLS refused: the server requires a client certificate",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refused_process_exits_with_the_connection_code_and_the_reason(
    case: str, servers: dict[str, SecureServer]
) -> None:
    command, method, env_of, expected = REFUSALS[case]
    started = time.monotonic()
    ran = await run_script(*command, env=_process_env(env_of(servers[method])), timeout=LONG_TIMEOUT + 10)
    took = time.monotonic() - started
    assert ran.code == EXIT_CONNECTION, ran
    assert expected in ran.err, ran
    assert "cannot connect to NATS at" in ran.err, ran
    assert "Traceback" not in ran.out + ran.err, ran
    # Start-up (imports) included; waiting out the connect timeout would take LONG_TIMEOUT.
    assert took < LONG_TIMEOUT / 2, f"took {took:.1f} s\n{ran}"


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("command", "host", "expected"),
    [
        (WORKER, "127.0.0.1", "connection refused, nothing listens there"),
        (SCHEDULER, UNRESOLVABLE_HOST, "unknown host, its name does not resolve"),
    ],
    ids=["worker, refused port", "scheduler, unknown host"],
)
async def test_an_unreachable_server_ends_the_process_within_the_connect_timeout(
    command: tuple[str, ...], host: str, expected: str
) -> None:
    env = _process_env({"NAQ_NATS_URL": f"nats://{host}:{_refused_port()}", "NAQ_NATS_CONNECT_TIMEOUT": "2"})
    ran = await run_script(*command, env=env, timeout=30)
    assert ran.code == EXIT_CONNECTION, ran
    assert expected in ran.err, ran
    assert "within 2.0 s" in ran.err, ran
    assert "Traceback" not in ran.out + ran.err, ran


async def test_the_monitor_shows_a_refused_login_with_the_login_hint(
    servers: dict[str, SecureServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in servers["password"].with_env(NAQ_NATS_PASSWORD="wrong").items():
        monkeypatch.setenv(name, value)
    app = make_app()
    try:
        async with app.run_test(size=(120, 40)):

            def status() -> str:
                return str(app.screen.query_one(StatusBar).render())

            await async_wait_for(lambda: "authorization failed" in status(), timeout=20, what="the refusal shown")
            assert LOGIN_HINT in status()
            assert "Traceback" not in status()
            assert app.is_running
    finally:
        await naq.client.close()


async def test_a_worker_survives_its_login_refused_for_a_while(tmp_path: Path) -> None:
    # nats-py alone closed the connection for good on this refusal: the worker stayed up, logging
    # "connection closed" every poll, and never worked again.
    with secure_server(tmp_path / "rotated", "password") as server:
        env = _process_env({**server.env, "NAQ_NATS_CONNECT_TIMEOUT": "3", "NAQ_LOG_LEVEL": "INFO"})
        (tmp_path / "logs").mkdir()
        processes = ProcessGroup(tmp_path / "logs", env)
        try:
            worker = processes.spawn(*WORKER)
            await async_wait_for(lambda: "serving default" in processes.output(worker), timeout=30, what="serving")
            config = server.workdir / "server.conf"
            original = config.read_text()

            def reload(text: str) -> None:
                config.write_text(text)
                assert server.server.process is not None
                server.server.process.send_signal(signal.SIGHUP)

            reload(original.replace(PASSWORD, "rotated-password"))
            refused = "refused the login on reconnecting"
            await async_wait_for(lambda: refused in processes.output(worker), timeout=10, what="the refusal logged")
            reload(original)
            await async_wait_for(
                lambda: "NATS connection restored" in processes.output(worker), timeout=10, what="reconnected"
            )
            queue = Queue(settings=Settings.from_env(server.env))
            job = await queue.enqueue(jobs.add, 4, 5)
            assert await job.result(timeout=20) == 9, processes.output(worker)
            log = processes.output(worker)
            assert log.count(refused) == 1, log
            assert "connection closed" not in log, log
            assert worker.poll() is None, log
        finally:
            processes.close()
            await naq.client.close()
