"""Every component on servers that require a login or TLS (issue 13, "NATS authentication and TLS").

One real server per way in (:data:`harness.secure_servers.METHODS`: user and password, token,
NKey, a credentials file of an operator/account/user JWT chain, TLS verified against the test's
CA, mutual TLS), shared by the tests of that method. On each, configured only through the
documented ``NAQ_*`` variables: a ``naq-worker`` and a ``naq-scheduler`` process, the client
(enqueue, a delayed job, results), the monitor (Pilot) and the ``naq`` command all connect and
work. The refused logins and TLS failures are in tests/client/test_secure_connection_errors.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

import naq.client
from harness import jobs
from harness.commands import run_naq
from harness.processes import ProcessGroup
from harness.secure_servers import METHODS, SecureServer, secure_server
from harness.waiting import async_wait_for
from naq.client import Job, Queue, Settings
from naq.tui import make_app
from naq.tui.widgets import StatusBar, WorkersTable

TESTS_DIR = Path(__file__).parents[1]
CLOCKS = {
    "NAQ_NATS_CONNECT_TIMEOUT": "3",
    "NAQ_DEFAULT_ACK_WAIT": "2",
    "NAQ_WORKER_HEARTBEAT_INTERVAL": "0.5",
    "NAQ_WORKER_TTL": "2",
    "NAQ_SCHEDULER_POLL_INTERVAL": "0.1",
    "NAQ_SCHEDULER_LOCK_TTL": "2",
    "NAQ_SCHEDULER_LOCK_RENEW_INTERVAL": "0.5",
}
"""The test clocks (BRIEF §10) as variables, for the processes and the in-process client alike."""


@dataclass
class Stack:
    """A secure server with a worker and a scheduler process on it, and the env they were given."""

    secure: SecureServer
    env: dict[str, str]
    processes: ProcessGroup
    worker: subprocess.Popen[bytes]
    scheduler: subprocess.Popen[bytes]
    worker_name: str

    def settings(self) -> Settings:
        """The client's settings: the same variables as the processes'."""
        return Settings.from_env({k: v for k, v in self.env.items() if k.startswith("NAQ_")})

    def logs(self) -> str:
        """What the worker and the scheduler printed, for assertion messages."""
        return "\n".join(
            f"--- {p.args[0]} (exit {p.poll()}):\n{self.processes.output(p)[-3000:]}"
            for p in (self.worker, self.scheduler)
        )


def _start(workdir: Path, secure: SecureServer) -> Stack:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env |= {**secure.env, **CLOCKS, "NAQ_LOG_LEVEL": "DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH", "")) if p)
    logs = workdir / "logs"
    logs.mkdir()
    processes = ProcessGroup(logs, env)
    name = f"secure-{secure.method}"
    worker = processes.spawn("naq-worker", "default", "--name", name, "--allow-module", "harness")
    scheduler = processes.spawn("naq-scheduler")
    return Stack(secure, env, processes, worker, scheduler, name)


@pytest.fixture(scope="module", params=METHODS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Per method: its server, one ``naq-worker`` (allowed module ``harness``) and one ``naq-scheduler``.

    One method at a time: started together, the twelve processes' imports fight over the cores.
    """
    method: str = request.param
    workdir = tmp_path_factory.mktemp(f"secure-{method}")
    with secure_server(workdir, method) as secure:
        started = _start(workdir, secure)
        try:
            yield started
        finally:
            started.processes.close()


@pytest.fixture
async def queue(stack: Stack) -> AsyncIterator[Queue]:
    """The default queue, configured as the processes are; the loop's connections closed after."""
    yield Queue(settings=stack.settings())
    await naq.client.close()


async def _result(job: Job, stack: Stack) -> Any:
    try:
        return await job.result(timeout=20)
    except TimeoutError:
        raise AssertionError(f"no result for {job.job_id}:\n{stack.logs()}") from None


async def test_the_client_enqueues_and_the_worker_process_returns_the_result(stack: Stack, queue: Queue) -> None:
    job = await queue.enqueue(jobs.add, 2, 3)
    assert await _result(job, stack) == 5


async def test_the_scheduler_process_fires_a_delayed_job(stack: Stack, queue: Queue) -> None:
    job = await queue.enqueue_in(0.2, jobs.add, 20, 22)
    assert await _result(job, stack) == 42


async def test_the_naq_command_lists_the_worker(stack: Stack) -> None:
    async def listed() -> bool:
        ran = await run_naq("list-workers", env=stack.env, timeout=20)
        assert ran.code == 0, ran
        return stack.worker_name in ran.out

    await async_wait_for(listed, timeout=20, interval=0.3, what=f"{stack.worker_name} in naq list-workers")


async def test_the_monitor_connects_and_shows_the_worker(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in stack.env.items():
        if name.startswith("NAQ_"):
            monkeypatch.setenv(name, value)
    app = make_app()
    try:
        async with app.run_test(size=(120, 40)):

            def shown() -> bool:
                table: DataTable[object] = app.screen.query_one(WorkersTable)
                status = str(app.screen.query_one(StatusBar).render())
                return "| connected |" in status and any(
                    stack.worker_name in str(cell) for row in range(table.row_count) for cell in table.get_row_at(row)
                )

            await async_wait_for(shown, timeout=20, interval=0.1, what="the monitor connected, the worker listed")
    finally:
        await naq.client.close()


def test_the_processes_logged_no_connection_trouble(stack: Stack) -> None:
    # Last for each method (tests run in file order): the processes have done their work by now.
    assert stack.worker.poll() is None, stack.logs()
    assert stack.scheduler.poll() is None, stack.logs()
    logs = stack.logs()
    for trouble in ("Traceback", "Authorization Violation", "CERTIFICATE_VERIFY_FAILED", "lost; reconnecting"):
        assert trouble not in logs, logs
