"""Every action of the monitor, by its key, against a real server (and a real worker where a job
must run): requeue one and all shown, delete, purge, run a schedule now, cancel a schedule and a
job after confirming; and read-only mode refusing each of them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import naq.client
from harness.jobs import fail_times, runs
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import FailedEntry, JobStatus
from naq.tui import make_app
from naq.tui.app import MonitorApp
from naq.tui.dialogs import ConfirmDialog
from naq.tui.screens import FailedScreen, JobScreen, OverviewScreen, SchedulesScreen
from naq.tui.widgets import DetailText, FailedTable, QueuesTable, SchedulesTable

SIZE = (160, 45)
T = TypeVar("T")


async def _until(read: Callable[[], Awaitable[T]], check: Callable[[T], bool], what: str) -> T:
    """``read()`` again until ``check`` holds of what it returns (10 s at most)."""

    async def holds() -> tuple[T] | None:
        value = await read()
        return (value,) if check(value) else None

    (value,) = await async_wait_for(holds, timeout=10, what=what)
    return value


async def _dead_letters(url: str, queue: str) -> list[FailedEntry]:
    return [entry async for entry in naq.client.failed_jobs(queue, nats_url=url)]


async def _fail_first_runs(
    url: str, run_worker: WorkerRunner, queue: str, directory: Path, count: int
) -> list[naq.client.Job]:
    """``count`` jobs that fail their first run (for good: no retries) and succeed when run again."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    async with run_worker([queue], concurrency=4):
        jobs = [
            await naq.client.enqueue(
                fail_times, str(directory), f"job{n}", 1, queue_name=queue, max_retries=0, nats_url=url
            )
            for n in range(count)
        ]
        await _until(lambda: _dead_letters(url, queue), lambda entries: len(entries) == count, "the dead letters")
    return jobs


def _keys(app: MonitorApp, table: type[FailedTable] | type[QueuesTable] | type[SchedulesTable]) -> list[str]:
    return [str(row.key.value) for row in app.screen.query_one(table).ordered_rows]


def _select(app: MonitorApp, table: type[QueuesTable] | type[SchedulesTable], key: str) -> None:
    widget = app.screen.query_one(table)
    widget.move_cursor(row=_keys(app, table).index(key))


def _select_failed(app: MonitorApp, job_id: str) -> None:
    table = app.screen.query_one(FailedTable)
    key = next(k for k, entry in table.entries.items() if entry.id == job_id)
    table.move_cursor(row=_keys(app, FailedTable).index(key))


async def _failed_rows(app: MonitorApp, count: int) -> None:
    await async_wait_for(lambda: len(_keys(app, FailedTable)) == count, timeout=10, what=f"{count} failed rows")


async def test_requeue_one_then_all_shown_and_each_job_runs_and_completes(
    nats_url: str, run_worker: WorkerRunner, tmp_path: Path
) -> None:
    queue = "tui-requeue"
    first, *others = await _fail_first_runs(nats_url, run_worker, queue, tmp_path, 3)
    app = make_app(nats_url)
    async with run_worker([queue]), app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        assert isinstance(app.screen, FailedScreen)
        await _failed_rows(app, 3)

        _select_failed(app, first.job_id)
        await pilot.press("r")  # one, no confirmation: nothing is lost by running it again
        assert await first.result(timeout=20) == "done"
        await _failed_rows(app, 2)

        await pilot.press("R")
        assert isinstance(app.screen, ConfirmDialog)
        assert "all 2 failed job(s)" in app.screen.question
        await pilot.press("y")
        for job in others:
            assert await job.result(timeout=20) == "done"
        await _failed_rows(app, 0)
    assert await _dead_letters(nats_url, queue) == []
    assert all(len(runs(str(tmp_path), f"job{n}")) == 2 for n in range(3))


async def test_requeue_all_takes_only_the_jobs_the_filter_shows(
    nats_url: str, run_worker: WorkerRunner, tmp_path: Path
) -> None:
    kept = await _fail_first_runs(nats_url, run_worker, "tui-kept", tmp_path / "kept", 2)
    requeued = await _fail_first_runs(nats_url, run_worker, "tui-chosen", tmp_path / "chosen", 1)
    app = make_app(nats_url)
    async with run_worker(["tui-chosen"]), app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await _failed_rows(app, 3)
        await pilot.press("F")
        await pilot.press(*"tui-chosen", "enter")  # the first field is the queue
        await _failed_rows(app, 1)
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmDialog)
        assert "all 1 failed job(s) shown matching queue=tui-chosen" in app.screen.question
        await pilot.press("y")
        assert await requeued[0].result(timeout=20) == "done"
    assert sorted(e.id for e in await _dead_letters(nats_url, "tui-kept")) == sorted(job.job_id for job in kept)


async def test_delete_asks_then_removes_the_record(nats_url: str, run_worker: WorkerRunner, tmp_path: Path) -> None:
    [job] = await _fail_first_runs(nats_url, run_worker, "tui-delete", tmp_path, 1)
    app = make_app(nats_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await _failed_rows(app, 1)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # no: nothing changes
        assert isinstance(app.screen, FailedScreen)
        assert [e.id for e in await _dead_letters(nats_url, "tui-delete")] == [job.job_id]
        await pilot.press("d", "y")
        await _until(lambda: _dead_letters(nats_url, "tui-delete"), lambda entries: entries == [], "no record")
        await _failed_rows(app, 0)


async def test_purge_names_the_count_then_empties_the_queue(nats_url: str) -> None:
    for n in range(5):
        await naq.client.enqueue("harness.jobs:add", n, 1, queue_name="tui-purge", nats_url=nats_url)
    app = make_app(nats_url)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, OverviewScreen)
        await async_wait_for(lambda: "tui-purge" in _keys(app, QueuesTable), timeout=10, what="queue row")
        _select(app, QueuesTable, "tui-purge")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmDialog)
        assert "its 5 waiting job(s)" in app.screen.question
        await pilot.press("y")
        await _until(lambda: naq.client.queue_stats("tui-purge", nats_url), lambda s: s.pending == 0, "empty queue")


async def test_run_now_enqueues_a_run_and_cancel_after_confirming_removes_the_schedule(nats_url: str) -> None:
    await naq.client.schedule(
        "harness.jobs:noop", interval=3600, schedule_id="tui-hourly", queue_name="tui-sched", nats_url=nats_url
    )
    app = make_app(nats_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        assert isinstance(app.screen, SchedulesScreen)
        await async_wait_for(lambda: "tui-hourly" in _keys(app, SchedulesTable), timeout=10, what="schedule row")
        _select(app, SchedulesTable, "tui-hourly")

        await pilot.press("n")
        await _until(lambda: naq.client.queue_stats("tui-sched", nats_url), lambda s: s.pending == 1, "the run")

        await pilot.press("c")
        assert isinstance(app.screen, ConfirmDialog)
        assert "tui-hourly" in app.screen.question
        await pilot.press("escape")  # not confirmed: still there
        assert [r.schedule_id for r in await naq.client.list_scheduled_jobs(nats_url=nats_url)] == ["tui-hourly"]
        await pilot.press("c", "y")
        await _until(lambda: naq.client.list_scheduled_jobs(nats_url=nats_url), lambda r: r == [], "gone")
        await async_wait_for(lambda: _keys(app, SchedulesTable) == [], timeout=10, what="the row gone")


async def test_cancel_from_job_lookup_cancels_a_queued_job(nats_url: str) -> None:
    job = await naq.client.enqueue("harness.jobs:add", 1, 2, queue_name="tui-cancel", nats_url=nats_url)
    app = make_app(nats_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *job.job_id, "enter")
        assert isinstance(app.screen, JobScreen)
        await async_wait_for(lambda: "queued" in app.screen.query_one(DetailText).text, timeout=10, what="queued")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await _until(job.status, lambda status: status == JobStatus.CANCELLED, "cancelled")
        await async_wait_for(lambda: "cancelled" in app.screen.query_one(DetailText).text, timeout=10, what="shown")


async def test_read_only_refuses_every_action(nats_url: str, run_worker: WorkerRunner, tmp_path: Path) -> None:
    [failed] = await _fail_first_runs(nats_url, run_worker, "tui-ro", tmp_path, 1)
    await naq.client.schedule(
        "harness.jobs:noop", interval=3600, schedule_id="tui-ro-hourly", queue_name="tui-ro", nats_url=nats_url
    )
    queued = await naq.client.enqueue("harness.jobs:add", 1, 2, queue_name="tui-ro", nats_url=nats_url)
    app = make_app(nats_url, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_for(lambda: "tui-ro" in _keys(app, QueuesTable), timeout=10, what="queue row")
        _select(app, QueuesTable, "tui-ro")
        assert "x" not in app.screen.active_bindings
        await pilot.press("x")
        assert isinstance(app.screen, OverviewScreen), "no purge dialog"

        await pilot.press("s")
        await async_wait_for(lambda: _keys(app, SchedulesTable) == ["tui-ro-hourly"], timeout=10, what="row")
        assert not {"p", "r", "n", "c"} & set(app.screen.active_bindings)
        await pilot.press("p", "r", "n", "c")
        assert isinstance(app.screen, SchedulesScreen), "no cancel dialog"
        await pilot.press("escape", "f")
        await _failed_rows(app, 1)
        assert not {"r", "R", "d"} & set(app.screen.active_bindings)
        await pilot.press("r", "R", "d")
        assert isinstance(app.screen, FailedScreen), "no confirmation dialog"
        await pilot.press("escape", "slash", *queued.job_id, "enter")
        await async_wait_for(lambda: "queued" in app.screen.query_one(DetailText).text, timeout=10, what="job")
        assert "c" not in app.screen.active_bindings
        await pilot.press("c")
        assert isinstance(app.screen, JobScreen)
        await pilot.pause()
        assert not [w for w in app.workers if w.group == "changes"], "no change was started"

    [record] = await naq.client.list_scheduled_jobs(nats_url=nats_url)
    assert (record.status, record.runs) == ("active", 0)
    stats = await naq.client.queue_stats("tui-ro", nats_url)
    assert (stats.pending, stats.dead_lettered) == (1, 1)
    assert [e.id for e in await _dead_letters(nats_url, "tui-ro")] == [failed.job_id]
    assert await queued.status() == JobStatus.QUEUED
