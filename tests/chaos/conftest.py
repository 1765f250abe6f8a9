"""The fault tests: real processes, real servers, real faults; nothing lost, measured.

Five scenarios, one file each, every one against real ``nats-server`` processes (the harness's
single server, its own restartable one, or the 3-node cluster) and real ``naq-worker`` /
``naq-scheduler`` subprocesses (``harness.chaos.Fleet`` restarts a slot whose process died, as a
container's restart policy would). What ran is proved from the jobs' own execution records
(``harness.chaos_jobs``: one ``O_APPEND`` line per start and end), the results bucket and the
dead-letter queue, never from counts of publishes.

- ``test_worker_crashes.py``: 2,000 jobs of 150 ms, 3 workers x 10, SIGKILL every 2 s for 30 s.
- ``test_poison.py``: one ``os._exit(1)`` job among 50 on 2 workers: only it is dead-lettered.
- ``test_nats_restart.py``: the server down 5 s, back on its store and port, under load.
- ``test_cluster_node_loss.py``: kill -9 of the node leading ``naq_jobs`` (replicas 3).
- ``test_scheduler_churn.py``: 50 schedules, the leading scheduler killed every 5 s for 30 s.

All are ``slow`` and ``chaos`` (``pytest -m chaos``); together about 3 minutes on 2 cores.
``hatch run chaos`` runs the long variants (``NAQ_CHAOS_LONG=1``: longer fault phases, more jobs).
Every scenario prints one ``chaos <test>: key=value ...`` line of figures to the terminal (seen
without ``-s``) and appends it as a JSON line to the file ``NAQ_CHAOS_REPORT`` names, if set.
Every loop is bounded and every wait has a deadline; a kill cadence is a schedule, not a wait.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.logs import restore_library_logging


@pytest.fixture(autouse=True)
async def client_connections() -> AsyncIterator[None]:
    """naq's connections of the test's loop are closed after each scenario."""
    yield
    await naq.client.close()
    restore_library_logging()


@pytest.fixture
def figures(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Callable[..., dict[str, Any]]:
    """``figures(**values)`` prints the scenario's figures line and appends it to ``NAQ_CHAOS_REPORT``."""

    def report(**values: Any) -> dict[str, Any]:
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}
        line = f"chaos {request.node.name}: " + " ".join(f"{k}={v}" for k, v in shown.items())
        with capsys.disabled():
            print(f"\n{line}", flush=True)
        # Also in the run's summary (tests/conftest.py), which pytest-xdist's processes report to.
        request.node.user_properties.append(("figures", line))
        target = os.environ.get("NAQ_CHAOS_REPORT")
        if target:
            with Path(target).open("a") as file:
                file.write(json.dumps({"scenario": request.node.name, **shown}) + "\n")
        return shown

    return report


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Where the chaos jobs write their executions log."""
    directory = tmp_path / "runs"
    directory.mkdir()
    return directory


@pytest.fixture
def chaos_env(naq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The subprocesses' environment, logging at INFO (DEBUG lines per job cost CPU the fleet needs);
    the test process's own client reads the same ``NAQ_*`` settings."""
    env = {**naq_env, "NAQ_LOG_LEVEL": "INFO"}
    for key, value in env.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    return env
