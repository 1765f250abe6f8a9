"""The failed jobs screen over a real dead-letter queue: a job a real worker failed for good is a
row; enter shows its record with the worker's traceback and arguments; job lookup of it shows the
same traceback. A message that was not a job is a row too, shown for what it is."""

from __future__ import annotations

import re
from typing import Any

import naq.client
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import JobStatus
from naq.tui import make_app
from naq.tui.app import MonitorApp
from naq.tui.screens import FailedJobScreen, FailedScreen, JobScreen
from naq.tui.widgets import DetailText, FailedTable

SIZE = (160, 40)


async def _failed_for_good(nats_url: str, run_worker: WorkerRunner) -> str:
    async with run_worker(["doomed"], concurrency=1):
        job = await naq.client.enqueue("harness.jobs:fail_now", queue_name="doomed", max_retries=0, nats_url=nats_url)

        async def dead_lettered() -> bool:
            info = await naq.client.job_info(job.job_id, nats_url)
            return info.status is JobStatus.FAILED and info.failed is not None

        await async_wait_for(dead_lettered, timeout=15, what="dead-letter record")
    return job.job_id


def _row(app: MonitorApp, entry_id: str) -> list[str] | None:
    table = app.screen.query_one(FailedTable)
    for key, entry in table.entries.items():
        if entry.id == entry_id:
            return [str(cell) for cell in table.get_row(key)]
    return None


def _select(app: MonitorApp, entry_id: str) -> None:
    table = app.screen.query_one(FailedTable)
    keys = [row.key.value for row in table.ordered_rows]
    table.move_cursor(row=keys.index(next(k for k, e in table.entries.items() if e.id == entry_id)))


async def test_a_job_failed_for_good_is_listed_and_shown_in_full(nats_url: str, run_worker: WorkerRunner) -> None:
    job_id = await _failed_for_good(nats_url, run_worker)
    app = make_app(nats_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        assert isinstance(app.screen, FailedScreen)
        row = await async_wait_for(lambda: _row(app, job_id), timeout=10, what="failed row")
        _, queue, function, error, message, failed_at, attempts = row
        assert (queue, function, error, message, attempts) == (
            "doomed",
            "harness.jobs:fail_now",
            "PlannedError",
            "planned failure",
            "1",
        )
        assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d:\d\d", failed_at), failed_at

        _select(app, job_id)
        await pilot.press("enter")
        assert isinstance(app.screen, FailedJobScreen)
        text = app.screen.query_one(DetailText).text
        assert text.splitlines()[0].split() == ["id:", job_id]
        assert "args=[] kwargs={}" in text
        assert "Traceback (most recent call last)" in text
        assert 'raise PlannedError("planned failure")' in text

        await pilot.press("escape")
        assert isinstance(app.screen, FailedScreen)
        await pilot.press("escape")
        await pilot.press("slash", *job_id, "enter")
        assert isinstance(app.screen, JobScreen)
        looked_up = await async_wait_for(
            lambda: (t := app.screen.query_one(DetailText).text) != "reading..." and t, timeout=10, what="job"
        )
        assert looked_up.splitlines()[1].split() == ["status:", "failed"]
        assert "error: " in looked_up
        assert "PlannedError: planned failure" in looked_up
        assert 'raise PlannedError("planned failure")' in looked_up


async def test_a_message_that_was_not_a_job_is_shown_as_such(nats_url: str, run_worker: WorkerRunner, js: Any) -> None:
    async with run_worker(["garbled"], concurrency=1):
        ack = await js.publish("naq.queue.garbled", b"\x00 not a naq job [red]\xff")
        entry_id = f"_raw.{ack.seq}"

        async def dead_lettered() -> bool:
            return entry_id in [entry.id async for entry in naq.client.failed_jobs("garbled", nats_url)]

        await async_wait_for(dead_lettered, timeout=15, what="undecodable dead-letter record")
    app = make_app(nats_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        row = await async_wait_for(lambda: _row(app, entry_id), timeout=10, what="undecodable row")
        assert row[1:3] == ["garbled", "(undecodable message)"]
        assert row[-1] == "-"
        _select(app, entry_id)
        await pilot.press("enter")
        assert isinstance(app.screen, FailedJobScreen)
        lines = app.screen.query_one(DetailText).text.splitlines()
        assert lines[0].split() == ["id:", entry_id]
        assert "kind:      undecodable message (not a job)" in lines
        assert "subject:   naq.queue.garbled" in lines
        assert any(line.startswith("error: ") for line in lines)
