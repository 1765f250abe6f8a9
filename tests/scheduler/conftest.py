"""Fixtures of the scheduler tests: in-process schedulers on the test's loop, stopped after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import naq.client
from harness.waiting import async_wait_for
from naq.client import Queue, Settings
from naq.scheduler import Scheduler


class SchedulerRunner:
    """Starts schedulers on the running loop; :meth:`close` stops every one still running."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: dict[Scheduler, asyncio.Task[None]] = {}

    async def start(self, instance_id: str | None = None, **options: Any) -> Scheduler:
        """Start a scheduler and wait until it has loaded the schedules (its firer exists)."""
        scheduler = Scheduler(instance_id=instance_id, settings=self.settings, **options)
        task = asyncio.create_task(scheduler.run(install_signal_handlers=False))
        self.running[scheduler] = task

        def started() -> bool:
            if task.done():
                task.result()
                raise AssertionError("the scheduler stopped while starting")
            return scheduler.firer is not None

        await async_wait_for(started, timeout=15, what="scheduler started")
        return scheduler

    async def stop(self, scheduler: Scheduler, timeout: float = 10.0) -> None:
        """Stop ``scheduler`` cleanly (it releases the lock) and re-raise what it died of, if anything."""
        task = self.running.pop(scheduler)
        scheduler.request_stop()
        await asyncio.wait_for(task, timeout)

    async def close(self) -> None:
        """Stop every scheduler still running."""
        for scheduler in list(self.running):
            await self.stop(scheduler)


@pytest.fixture
async def schedulers(test_settings: Settings) -> AsyncIterator[SchedulerRunner]:
    """Starts in-process schedulers (see :class:`SchedulerRunner`); closes naq's connections after."""
    runner = SchedulerRunner(test_settings)
    try:
        yield runner
    finally:
        await runner.close()
        await naq.client.close()


@pytest.fixture
def queue(test_settings: Settings) -> Queue:
    """The default queue, with the test settings."""
    return Queue(settings=test_settings)
