"""The monitor's live parts against a real server and real workers: the event log follows the
event stream only while the overview is shown; a worker killed with SIGKILL shows as lost, a key
hides it, and the row goes once its entry has expired; the rates and the sparkline move while
jobs complete; the command palette offers the screen's actions."""

from __future__ import annotations

import signal
from typing import Any

from textual.command import CommandList, CommandPalette

import naq.client
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import spawn_worker
from harness.worker_runner import WorkerRunner
from naq.tui.app import MonitorApp
from naq.tui.data import NatsDataSource
from naq.tui.screens import OverviewScreen, SchedulesScreen
from naq.tui.widgets import EventLog, QueuesTable, WorkersTable
from naq.tui.widgets.tables import sparkline

SIZE = (160, 45)
EVENTS_STREAM = "naq_events"


def _lines(app: MonitorApp) -> list[str]:
    return [str(line) for line in app.screen.query_one(EventLog).lines]


def _row(app: MonitorApp, table: type[QueuesTable] | type[WorkersTable], key: str) -> list[str] | None:
    widget = app.screen.query_one(table)
    keys = [row.key.value for row in widget.ordered_rows]
    return [str(cell) for cell in widget.get_row(key)] if key in keys else None


async def _event_consumers(js: Any) -> int:
    return int((await js.stream_info(EVENTS_STREAM)).state.consumer_count)


async def test_the_event_log_follows_events_only_while_the_overview_is_shown(
    nats_url: str, run_worker: WorkerRunner, js: Any
) -> None:
    app = MonitorApp(NatsDataSource(nats_url))
    async with run_worker(["tui-events"]), app.run_test(size=SIZE) as pilot:
        await async_wait_for(lambda: _event_consumers(js), timeout=10, what="the log's consumer")
        job = await naq.client.enqueue("harness.jobs:add", 2, 3, queue_name="tui-events", nats_url=nats_url)
        assert await job.result(timeout=10) == 5
        line = await async_wait_for(
            lambda: next((t for t in _lines(app) if "tui-events  completed" in t and job.job_id in t), None),
            timeout=10,
            what="the completed event",
        )
        assert "worker " in line

        await pilot.press("s")  # another screen: the log stops reading, its consumer goes
        assert isinstance(app.screen, SchedulesScreen)
        await async_wait_for(
            lambda: _no_event_consumers(js), timeout=10, what="the log's consumer removed while hidden"
        )
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await async_wait_for(lambda: _event_consumers(js), timeout=10, what="the log reading again")


async def _no_event_consumers(js: Any) -> bool:
    return await _event_consumers(js) == 0


async def test_the_event_log_filter_keeps_only_the_chosen_kind(nats_url: str, run_worker: WorkerRunner) -> None:
    app = MonitorApp(NatsDataSource(nats_url))
    async with run_worker(["tui-kinds"]), app.run_test(size=SIZE) as pilot:
        await pilot.press("F")
        await pilot.press("tab", *"completed", "enter")  # queue empty, kind "completed"
        assert isinstance(app.screen, OverviewScreen)
        assert "kind=completed" in str(app.screen.query_one("#events-title").render())
        job = await naq.client.enqueue("harness.jobs:add", 1, 1, queue_name="tui-kinds", nats_url=nats_url)
        assert await job.result(timeout=10) == 2
        await async_wait_for(lambda: any(job.job_id in t for t in _lines(app)), timeout=10, what="completed line")
        assert all("  completed  " in t for t in _lines(app)), _lines(app)


async def test_a_killed_worker_shows_as_lost_a_key_hides_it_and_its_row_goes(
    nats_url: str, processes: ProcessGroup, naq_env: dict[str, str], client_env: dict[str, str]
) -> None:
    doomed = spawn_worker(processes, naq_env, "tui-doomed", queues=("tui-lost",))
    kept = spawn_worker(processes, naq_env, "tui-kept", queues=("tui-lost",))
    app = MonitorApp(NatsDataSource(nats_url, lost_linger=3.0))
    async with app.run_test(size=SIZE) as pilot:
        for name in ("tui-doomed", "tui-kept"):
            await async_wait_for(lambda n=name: _row(app, WorkersTable, n), timeout=20, what=f"{name} row")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        row = await async_wait_for(
            lambda: (r := _row(app, WorkersTable, "tui-doomed")) and r[3] == "LOST" and r,
            timeout=10,
            what="the killed worker shown lost",
        )
        assert row[0] == "tui-doomed"
        assert "1 lost" in str(app.screen.query_one("#workers-title").render())
        await pilot.press("h")
        assert _row(app, WorkersTable, "tui-doomed") is None
        assert _row(app, WorkersTable, "tui-kept") is not None
        # Not hidden: it still goes by itself, once expired and listed for the linger.
        app.hidden_workers.clear()
        await async_wait_for(
            lambda: _row(app, WorkersTable, "tui-doomed") is None and _row(app, WorkersTable, "tui-kept"),
            timeout=20,
            what="the lost worker's row gone, the other kept",
        )
    assert kept.poll() is None


async def test_rates_and_the_sparkline_show_jobs_completing(nats_url: str, run_worker: WorkerRunner) -> None:
    app = MonitorApp(NatsDataSource(nats_url))
    async with run_worker(["tui-rates"], concurrency=8), app.run_test(size=SIZE):
        for _ in range(5):  # jobs over a few seconds, so several reads see the counters grow
            jobs = await naq.client.enqueue_many(
                "harness.jobs:add", [(n, 1) for n in range(40)], queue_name="tui-rates", nats_url=nats_url
            )
            for job in jobs:
                await job.result(timeout=10)
        row = await async_wait_for(
            lambda: (r := _row(app, QueuesTable, "tui-rates")) and float(r[9]) > 0 and r,
            timeout=15,
            what="a completion rate above zero",
        )
        assert float(row[10]) == 0.0  # none failed
        assert set(row[11]) - {sparkline([0.0])}, f"a sparkline with a rise: {row[11]!r}"


def _palette_hits(app: MonitorApp) -> list[str]:
    hits = app.screen.query_one(CommandList)
    return [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]


async def _palette_search(app: MonitorApp, pilot: Any, text: str) -> list[str]:
    await pilot.press("ctrl+p")
    assert isinstance(app.screen, CommandPalette)
    await pilot.press(*text)
    return await async_wait_for(lambda: _palette_hits(app), timeout=10, what=f"palette hits for {text!r}")


async def test_the_command_palette_offers_and_runs_the_screens_actions(nats_url: str) -> None:
    app = MonitorApp(NatsDataSource(nats_url))
    async with app.run_test(size=SIZE) as pilot:
        assert any("Purge queue" in hit for hit in await _palette_search(app, pilot, "purge"))
        await pilot.press("escape")
        hits = await _palette_search(app, pilot, "schedules")
        assert any("Schedules" in hit for hit in hits), hits
        await pilot.press("enter")  # a command does what its key does
        await async_wait_for(lambda: isinstance(app.screen, SchedulesScreen), timeout=10, what="schedules")


async def test_the_command_palette_of_a_read_only_monitor_has_no_changes(nats_url: str) -> None:
    app = MonitorApp(NatsDataSource(nats_url), read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        hits = await _palette_search(app, pilot, "hide lost")
        assert any("Hide lost workers" in hit for hit in hits), hits
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"purge")
        await pilot.pause(0.5)
        assert not any("Purge queue" in hit for hit in _palette_hits(app))


async def test_a_bad_event_filter_is_said_in_the_log_and_nothing_breaks(nats_url: str) -> None:
    app = MonitorApp(NatsDataSource(nats_url))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("F")
        await pilot.press("tab", *"bogus", "enter")
        line = await async_wait_for(
            lambda: next((t for t in _lines(app) if "not a filter" in t), None), timeout=10, what="the message"
        )
        assert "unknown event kind 'bogus'" in line
        assert isinstance(app.screen, OverviewScreen)
        assert app.is_running
