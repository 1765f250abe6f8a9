"""``naq-worker --check``: the health check a worker's container runs, against real processes.

A real ``naq-worker`` subprocess on the session server; the check runs as the container would run
it, a second process of the same host. Clocks: heartbeat 0.5 s, worker TTL 2 s; deadlines are about
5x the figure they check.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import AsyncIterator

import pytest

import naq.client
from harness.health import run_check
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from naq.protocol import Settings

TTL_DEADLINE = 2 * 5
"""Seconds a silent worker's record may take to expire (TTL 2 s, times 5)."""


@pytest.fixture
async def registry(
    test_settings: Settings, naq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Settings]:
    """The test process reads the registry too, with the workers' settings (a reader brings the
    bucket to its own settings' spec); its connections are closed after the test."""
    for key, value in naq_env.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    yield test_settings
    await naq.client.close()


async def wait_registered(settings: Settings, name: str, process: subprocess.Popen[bytes], pg: ProcessGroup) -> None:
    """Wait until worker ``name`` is in the registry; fail if its process exits first."""

    async def registered() -> bool:
        assert process.poll() is None, f"worker exited early:\n{pg.output(process)[-4000:]}"
        return name in {w.worker_id for w in await naq.client.list_workers(settings.servers)}

    await async_wait_for(registered, timeout=30, interval=0.1, what=f"worker {name} registered")


def spawn(processes: ProcessGroup, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    return processes.spawn("naq-worker", "default", "--concurrency", "2", "--name", name, env=env)


async def test_check_passes_while_the_worker_runs_and_fails_once_it_stopped(
    processes: ProcessGroup, naq_env: dict[str, str], registry: Settings
) -> None:
    worker = spawn(processes, naq_env, "hc-run")
    await wait_registered(registry, "hc-run", worker, processes)

    by_host = await run_check("naq-worker", env=naq_env)  # as the image's HEALTHCHECK runs it
    assert by_host.code == 0, by_host
    assert "hc-run" in by_host.out
    by_name = await run_check("naq-worker", "--name", "hc-run", env=naq_env)
    assert by_name.code == 0, by_name
    other = await run_check("naq-worker", "--name", "hc-other", env=naq_env)
    assert other.code == 1, other
    assert other.err.count("\n") == 1, other
    assert "no heartbeat record of worker hc-other" in other.err, other

    assert ProcessGroup.stop(worker) == 0, processes.output(worker)[-4000:]
    stopped = await run_check("naq-worker", env=naq_env)
    assert stopped.code == 1, stopped
    assert "no heartbeat record" in stopped.err, stopped


async def test_check_fails_at_once_for_a_killed_worker(
    processes: ProcessGroup, naq_env: dict[str, str], registry: Settings
) -> None:
    worker = spawn(processes, naq_env, "hc-killed")
    await wait_registered(registry, "hc-killed", worker, processes)
    ProcessGroup.stop(worker, sig=signal.SIGKILL)

    checked = await run_check("naq-worker", env=naq_env)
    assert checked.code == 1, checked
    assert f"(pid {worker.pid}) is gone" in checked.err, checked
    # The record itself outlives the process until its TTL: the check looked past it.
    assert "hc-killed" in {w.worker_id for w in await naq.client.list_workers(registry.servers)}


async def test_check_fails_while_the_worker_is_frozen_and_passes_once_it_resumes(
    processes: ProcessGroup, naq_env: dict[str, str], registry: Settings
) -> None:
    worker = spawn(processes, naq_env, "hc-frozen")
    await wait_registered(registry, "hc-frozen", worker, processes)
    worker.send_signal(signal.SIGSTOP)  # alive but silent: no heartbeat, its record expires
    try:

        async def unhealthy() -> bool:
            return (await run_check("naq-worker", env=naq_env)).code == 1

        await async_wait_for(unhealthy, timeout=TTL_DEADLINE, interval=0.2, what="check fails for a frozen worker")
    finally:
        worker.send_signal(signal.SIGCONT)

    async def healthy() -> bool:
        return (await run_check("naq-worker", env=naq_env)).code == 0

    await async_wait_for(healthy, timeout=TTL_DEADLINE, interval=0.2, what="check passes once the worker resumes")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_check_exits_3_when_nats_is_unreachable(naq_env: dict[str, str]) -> None:
    env = {**naq_env, "NAQ_NATS_URL": f"nats://127.0.0.1:{_closed_port()}", "NAQ_NATS_CONNECT_TIMEOUT": "1"}
    checked = await run_check("naq-worker", env=env)
    assert checked.code == 3, checked
    assert checked.err.count("\n") == 1, checked
    assert "cannot connect to NATS" in checked.err, checked
