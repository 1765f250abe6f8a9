"""Fixtures of the fault tests: the one-line figures each scenario reports, and its environment.

Every scenario prints ``chaos <scenario>: key=value ...`` straight to the terminal (so ``-s`` is
not needed to see it) and, when ``NAQ_CHAOS_REPORT`` names a file, appends the same figures to it
as one JSON line.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
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
def chaos_env(naq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The subprocesses' environment, logging at INFO (DEBUG lines per job cost CPU the fleet needs);
    the test process's own client reads the same ``NAQ_*`` settings."""
    env = {**naq_env, "NAQ_LOG_LEVEL": "INFO"}
    for key, value in env.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    yield env
