"""Fixtures of the end-to-end tests: in-process workers on the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.logs import restore_library_logging
from harness.processes import ProcessGroup
from harness.schedules import SCHEDULER_POLL
from harness.worker_runner import WorkerRunner
from naq.client import Queue, Settings


@pytest.fixture(autouse=True)
def library_logging() -> Iterator[None]:
    """After each test, naq's logging is a library's again (CLI tests enable it on a captured stream)."""
    yield
    restore_library_logging()


@pytest.fixture
async def run_worker(test_settings: Settings, js: Any) -> AsyncIterator[WorkerRunner]:
    """Starts in-process workers (see :class:`WorkerRunner`); closes the loop's naq connections after."""
    runner = WorkerRunner(test_settings, js)
    try:
        yield runner
    finally:
        await runner.close()
        await naq.client.close()


@pytest.fixture
def queue(test_settings: Settings) -> Queue:
    """The default queue, with the test settings."""
    return Queue(settings=test_settings)


@pytest.fixture
def client_env(naq_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test process's client uses the same NAQ_* settings as the worker subprocesses."""
    for key, value in naq_env.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    return naq_env


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Where record_run writes its side effects."""
    directory = tmp_path / "runs"
    directory.mkdir()
    return directory


@pytest.fixture
def served(processes: ProcessGroup, naq_env: dict[str, str]) -> ProcessGroup:
    """One scheduler (polling every :data:`SCHEDULER_POLL` s) and one worker process on the test server."""
    processes.spawn("naq-scheduler", "--poll-interval", str(SCHEDULER_POLL), env=naq_env)
    processes.spawn("naq-worker", "--concurrency", "4", env=naq_env)
    return processes
