"""Fixtures of the end-to-end tests: in-process workers on the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import naq.client
from harness.worker_runner import WorkerRunner
from naq.client import Queue, Settings


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
