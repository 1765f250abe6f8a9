"""Fixtures shared by every test folder: a real NATS server, a cluster, clocks, subprocesses.

Imports only the standard library, pytest, the harness and naq.protocol; nats-py (a test
dependency of every environment) is imported inside the fixtures that talk to the server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.jetstream_api import delete_all_streams
from harness.jobs import TEST_JOB_MODULES
from harness.processes import ProcessGroup
from harness.servers import NatsCluster, NatsServer, running_server
from naq.protocol import Settings


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One JetStream nats-server on 127.0.0.1 and a random port, for the whole session."""
    with running_server(tmp_path_factory.mktemp("nats")) as server:
        yield server


async def _delete_all_streams(server: NatsServer) -> None:
    import nats

    nc = await nats.connect(server.url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await delete_all_streams(nc, server)
    finally:
        await nc.close()


@pytest.fixture
async def nats_url(nats_server: NatsServer) -> str:
    """URL of the session server, with every stream and bucket deleted so each test starts clean."""
    await _delete_all_streams(nats_server)
    return nats_server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A nats-py connection to the clean session server, closed after the test."""
    import nats

    connection = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    yield connection
    await connection.close()


@pytest.fixture
def js(nc: Any) -> Any:
    """The JetStream context of :func:`nc`."""
    return nc.jetstream()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A fresh 3-node JetStream cluster on loopback, stopped after the test."""
    cluster = NatsCluster(tmp_path / "cluster")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def test_settings(nats_url: str) -> Settings:
    """naq settings for the session server with the clocks shortened for tests (BRIEF §10)."""
    return Settings.from_env(
        {},
        nats_url=nats_url,
        connect_timeout=2.0,
        ack_wait=2.0,
        worker_heartbeat_interval=0.5,
        worker_ttl=2,
        scheduler_poll_interval=0.1,
        scheduler_lock_ttl=2,
        scheduler_lock_renew_interval=0.5,
        # The schedule tests fire every 0.1-0.5 s; production's floor is 1 s.
        min_schedule_interval=0.05,
        # A worker refuses to start without allowed modules: these are where the tests' jobs live.
        allowed_modules=TEST_JOB_MODULES,
    )


@pytest.fixture
def naq_env(test_settings: Settings) -> dict[str, str]:
    """Environment for naq subprocesses: this process's, minus any ``NAQ_*``, plus the test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env.update(test_settings.as_env())
    env["NAQ_LOG_LEVEL"] = "DEBUG"
    # Worker subprocesses import the test jobs (harness.jobs) from the tests folder.
    tests_dir = str(Path(__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, env.get("PYTHONPATH", "")) if p)
    return env


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    """Starts console scripts as subprocesses and stops every one of them after the test."""
    logs = tmp_path / "process-logs"
    logs.mkdir()
    group = ProcessGroup(logs)
    try:
        yield group
    finally:
        group.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Count the tests marked ``slow`` (longer than 20 s), and name unmarked tests that took that long."""
    reports = [r for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])]
    calls = [r for r in reports if r.when == "call"]
    slow = [r for r in calls if "slow" in r.keywords]
    unmarked = [r for r in calls if r.duration > _SLOW_SECONDS and "slow" not in r.keywords]
    terminalreporter.write_line(f"slow tests (marked, > {_SLOW_SECONDS:.0f} s): {len(slow)}")
    for report in unmarked:
        terminalreporter.write_line(f"unmarked test took {report.duration:.1f} s: {report.nodeid}")
    for report in calls:  # the fault tests' figures (tests/chaos/conftest.py)
        for key, line in report.user_properties:
            if key == "figures":
                terminalreporter.write_line(line)


_SLOW_SECONDS = 20.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests for pytest-xdist (``--dist loadgroup`` in pytest.ini): each file's tests stay
    in one process, so module-scoped servers start once; the fault tests (``chaos``) all run in one
    process, one after the other, so their kills and restarts never overlap."""
    for item in items:
        group = "chaos" if item.get_closest_marker("chaos") else item.nodeid.partition("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
