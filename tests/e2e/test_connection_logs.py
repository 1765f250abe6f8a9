"""A worker logs losing its NATS server (WARNING) and getting it back (INFO), naming it (issue 9, item 11).

A ``naq-worker`` subprocess runs against a nats-server of this test's own, which is stopped and
started again on the same port (with the same store), so the worker's connection reconnects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes import ProcessGroup
from harness.servers import NatsServer, running_server
from harness.waiting import async_wait_for
from harness.worker_processes import spawn_worker, worker_logs


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server for this test alone, so it can be stopped and started again."""
    with running_server(tmp_path / "nats", name="naq-outage") as server:
        yield server


def _log_line(log: str, level: str, text: str) -> str | None:
    return next((line for line in log.splitlines() if f"| {level}" in line and text in line), None)


async def test_a_worker_logs_the_disconnect_and_the_reconnect_with_the_server(
    own_server: NatsServer, naq_env: dict[str, str], processes: ProcessGroup
) -> None:
    url = own_server.url
    port = int(url.rsplit(":", 1)[1])
    env = {**naq_env, "NAQ_NATS_URL": url, "NAQ_LOG_LEVEL": "INFO"}
    worker = spawn_worker(processes, env, "outage")

    def output() -> str:
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited:\n{worker_logs(processes, [worker])}")
        return processes.output(worker)

    await async_wait_for(lambda: "serving default" in output(), timeout=30, interval=0.1, what="worker started")

    own_server.stop()
    lost = await async_wait_for(
        lambda: _log_line(output(), "WARNING", f"NATS connection to {url} lost"),
        timeout=15,
        interval=0.1,
        what="disconnect logged",
    )
    assert "reconnecting" in lost

    own_server.start(port=port)
    own_server.wait_healthy()
    back = await async_wait_for(
        lambda: _log_line(output(), "INFO", f"reconnected to {url}"),
        timeout=15,
        interval=0.1,
        what="reconnect logged",
    )
    assert "NATS connection restored" in back
    assert ProcessGroup.stop(worker) == 0, worker_logs(processes, [worker])
