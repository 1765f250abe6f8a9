"""The floor under schedule intervals (``NAQ_MIN_SCHEDULE_INTERVAL``, 1 s by default, inclusive).

An interval of ``1e-9`` once had the scheduler fire thousands of runs in seconds: it is refused at
``schedule()``, at ``modify_scheduled_job()`` and by ``naq job-control ... reschedule``, and nothing
is stored. (The scheduler's refusal of a stored record below the floor: tests/scheduler.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

import naq.client
from harness.schedules import schedule_record
from naq.client import ConfigurationError, Queue, Settings, cli

FUNC = "harness.jobs:add"
EXIT_CONFIG = 4


@pytest.fixture
async def production_floor(nats_url: str) -> AsyncIterator[Settings]:
    """Settings for the test server with every other value at its production default (floor 1 s)."""
    yield Settings.from_env({}, nats_url=nats_url)
    await naq.client.close()


@pytest.mark.parametrize("interval", [1e-9, 0.5, 0.999, timedelta(milliseconds=999)])
async def test_schedule_refuses_an_interval_below_the_floor_and_stores_nothing(
    production_floor: Settings, js: Any, interval: Any
) -> None:
    queue = Queue(settings=production_floor)
    with pytest.raises(ConfigurationError, match="shorter than NAQ_MIN_SCHEDULE_INTERVAL=1 s"):
        await queue.schedule(FUNC, 1, 2, interval=interval, schedule_id="too-fast")
    assert await schedule_record(js, "too-fast") is None


async def test_an_interval_equal_to_the_floor_is_accepted(production_floor: Settings) -> None:
    handle = await Queue(settings=production_floor).schedule(FUNC, 1, 2, interval=1, schedule_id="one-second")
    assert (await handle.info()).interval == 1.0


async def test_the_floor_is_a_setting(nats_url: str) -> None:
    settings = Settings.from_env({"NAQ_MIN_SCHEDULE_INTERVAL": "0.25"}, nats_url=nats_url)
    queue = Queue(settings=settings)
    try:
        assert (await queue.schedule(FUNC, 1, 2, interval=0.25)).schedule_id
        with pytest.raises(ConfigurationError, match=r"NAQ_MIN_SCHEDULE_INTERVAL=0\.25 s"):
            await queue.schedule(FUNC, 1, 2, interval=0.2)
    finally:
        await naq.client.close()
    with pytest.raises(ConfigurationError, match="NAQ_MIN_SCHEDULE_INTERVAL"):
        Settings.from_env({"NAQ_MIN_SCHEDULE_INTERVAL": "0"})


async def test_modify_refuses_an_interval_below_the_floor_and_changes_nothing(
    production_floor: Settings, js: Any
) -> None:
    queue = Queue(settings=production_floor)
    await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="every-minute")
    before = await schedule_record(js, "every-minute")
    with pytest.raises(ConfigurationError, match="shorter than NAQ_MIN_SCHEDULE_INTERVAL"):
        await queue.modify_scheduled_job("every-minute", interval=1e-9)
    assert await schedule_record(js, "every-minute") == before


async def test_job_control_reschedule_refuses_an_interval_below_the_floor(
    production_floor: Settings, js: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NAQ_MIN_SCHEDULE_INTERVAL", raising=False)
    await Queue(settings=production_floor).schedule(FUNC, 1, 2, interval=60, schedule_id="every-minute")
    before = await schedule_record(js, "every-minute")
    url = production_floor.nats_url[0]
    command = ["job-control", "every-minute", "reschedule", "--interval", "1e-9", "--nats-url", url]
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, command)
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "shorter than NAQ_MIN_SCHEDULE_INTERVAL=1 s" in result.stderr
    assert await schedule_record(js, "every-minute") == before
