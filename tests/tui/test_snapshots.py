"""Snapshot tests of each monitor screen: Textual's own SVG export, compared with committed files.

The app is fed fixed records through its data-source interface (:mod:`fixed_source`, not a NATS
mock) with an injected clock (every time on screen comes from ``fixed_source.AT``), at a fixed
terminal size, driven by Textual's Pilot. Each test waits (bounded) until the screen shows its
data, then until two exports in a row agree, and compares the SVG with
``tests/tui/snapshots/<name>.svg``.

Textual is pinned exactly (8.2.8): its rendering, and so every snapshot, changes across its
releases. After a deliberate change to a screen (or a Textual upgrade), regenerate them all with

    NAQ_UPDATE_SNAPSHOTS=1 hatch run test tests/tui/test_snapshots.py

look at the new SVGs (any browser opens them), and commit them. Without that variable a missing
snapshot fails (saying how to create it), and a mismatch writes the screen as it is now beside
the committed one, as ``<name>.actual.svg`` (gitignored), and fails naming both.

What would vary between runs is made fixed here: Rich names the SVG's CSS classes
``terminal-<checksum of the content>`` (normalised to ``terminal``, so a diff shows only what
changed on screen); an input's cursor blinks (turned off: a steady cursor); animations are off;
``NO_COLOR`` is cleared and the theme set, so the environment does not change the colours.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log
from tui.fixed_source import LOOKED_UP_JOB, FixedSource, failed_entries, fixed_events

from harness.waiting import async_wait_for
from naq.tui import make_app
from naq.tui.app import MonitorApp
from naq.tui.dialogs import ConfirmDialog, FilterDialog
from naq.tui.screens import FailedJobScreen, FailedScreen, JobScreen, OverviewScreen, SchedulesScreen
from naq.tui.screens.overview import NO_QUEUES_HINT
from naq.tui.widgets import DetailText, FailedTable, QueuesTable, SchedulesTable, StatusBar, WorkersTable

SIZE: Final = (140, 40)
"""Columns and rows of every snapshot's terminal."""

SNAPSHOTS: Final = Path(__file__).parent / "snapshots"

UPDATE_VARIABLE: Final = "NAQ_UPDATE_SNAPSHOTS"

REGENERATE: Final = f"{UPDATE_VARIABLE}=1 hatch run test tests/tui/test_snapshots.py"
"""The command that (re)writes every snapshot."""

_TIMEOUT: Final = 10.0

Drive = Callable[[Pilot[None], MonitorApp], Awaitable[None]]


def normalise(svg: str) -> str:
    """The SVG without what varies with the content alone: Rich's ``terminal-<checksum>`` class
    and id prefix (the checksum of the segments; a one-cell change would rewrite every line)."""
    return re.sub(r"\bterminal-\d+", "terminal", svg)


def _status(app: MonitorApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def _rows(app: MonitorApp, table: type[DataTable[object]]) -> int:
    return app.screen.query_one(table).row_count


async def _settled(pilot: Pilot[None]) -> str:
    """The screen once two exports in a row (with the app idle between them) agree."""
    previous = None
    for _ in range(20):  # bounded: a screen that never settles fails below
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        svg = normalise(pilot.app.export_screenshot())
        if svg == previous:
            return svg
        previous = svg
    raise AssertionError("the screen kept changing between exports")


def _compare(name: str, svg: str) -> None:
    expected_path = SNAPSHOTS / f"{name}.svg"
    actual_path = SNAPSHOTS / f"{name}.actual.svg"
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        expected_path.write_text(svg, encoding="utf-8")
        actual_path.unlink(missing_ok=True)
        return
    if not expected_path.exists():
        pytest.fail(f"no snapshot {expected_path}: create it with `{REGENERATE}`, look at it, and commit it")
    if expected_path.read_text(encoding="utf-8") != svg:
        actual_path.write_text(svg, encoding="utf-8")
        pytest.fail(
            f"the {name!r} screen differs from its snapshot: expected {expected_path}, actual {actual_path}. "
            f"If the change is intended, regenerate with `{REGENERATE}`."
        )
    actual_path.unlink(missing_ok=True)


async def _snapshot(name: str, source: FixedSource, drive: Drive, *, read_only: bool = False) -> None:
    app = make_app(source, read_only=read_only)
    app.animation_level = "none"
    app.theme = "textual-dark"
    async with app.run_test(size=SIZE) as pilot:
        await drive(pilot, app)
        svg = await _settled(pilot)
    _compare(name, svg)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # NO_COLOR turns the whole screen monochrome (Textual reads it when the app is made).
    monkeypatch.delenv("NO_COLOR", raising=False)


async def _overview_full(pilot: Pilot[None], app: MonitorApp) -> None:
    def shown() -> bool:
        return (
            isinstance(app.screen, OverviewScreen)
            and _rows(app, QueuesTable) == 3
            and _rows(app, WorkersTable) == 3
            and app.screen.query_one(Log).line_count == len(fixed_events())
            and "| connected |" in _status(app)
        )

    await async_wait_for(shown, timeout=_TIMEOUT, what="the overview with its queues, workers and events")


async def test_overview() -> None:
    await _snapshot("overview", FixedSource(), _overview_full)


async def test_overview_read_only() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        await _overview_full(pilot, app)
        assert "x" not in app.screen.active_bindings  # the footer has no purge key

    await _snapshot("overview_read_only", FixedSource(), drive, read_only=True)


async def test_overview_empty() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        def shown() -> bool:
            title = str(app.screen.query_one("#queues-title").render())
            return title == NO_QUEUES_HINT and "| connected |" in _status(app)

        await async_wait_for(shown, timeout=_TIMEOUT, what="the empty overview")

    await _snapshot("overview_empty", FixedSource(empty=True), drive)


async def test_overview_disconnected() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        def shown() -> bool:
            return "| lost:" in _status(app) and app.screen.query_one(Log).line_count == 1

        await async_wait_for(shown, timeout=_TIMEOUT, what="the lost state and the ended event stream")

    await _snapshot("overview_disconnected", FixedSource(unreachable=True), drive)


async def test_purge_confirmation() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        await _overview_full(pilot, app)
        await pilot.press("down")  # from "default" to "emails", the queue with jobs waiting
        await pilot.press("x")
        await async_wait_for(lambda: isinstance(app.screen, ConfirmDialog), timeout=_TIMEOUT, what="the dialog")

    source = FixedSource()
    await _snapshot("purge_confirmation", source, drive)
    assert source.calls == []  # asked, not done


async def test_schedules() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        await _overview_full(pilot, app)
        await pilot.press("s")

        def shown() -> bool:
            return isinstance(app.screen, SchedulesScreen) and _rows(app, SchedulesTable) == 4

        await async_wait_for(shown, timeout=_TIMEOUT, what="the four schedules")

    await _snapshot("schedules", FixedSource(), drive)


async def _failed_shown(pilot: Pilot[None], app: MonitorApp) -> None:
    await _overview_full(pilot, app)
    await pilot.press("f")

    def shown() -> bool:
        return isinstance(app.screen, FailedScreen) and _rows(app, FailedTable) == len(failed_entries())

    await async_wait_for(shown, timeout=_TIMEOUT, what="the failed jobs")


async def test_failed_jobs() -> None:
    await _snapshot("failed_jobs", FixedSource(), _failed_shown)


async def test_failed_job_detail() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        await _failed_shown(pilot, app)
        await pilot.press("down", "enter")  # the second newest: a failed job with a traceback
        await async_wait_for(lambda: isinstance(app.screen, FailedJobScreen), timeout=_TIMEOUT, what="the detail")

    await _snapshot("failed_job_detail", FixedSource(), drive)


async def test_failed_filter_dialog() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        await _failed_shown(pilot, app)
        await pilot.press("F")
        await async_wait_for(lambda: isinstance(app.screen, FilterDialog), timeout=_TIMEOUT, what="the dialog")
        await pilot.press(*"emails")
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a steady cursor: a blinking one is on or off by timing

    await _snapshot("failed_filter_dialog", FixedSource(), drive)


async def test_job_lookup() -> None:
    async def drive(pilot: Pilot[None], app: MonitorApp) -> None:
        await _overview_full(pilot, app)
        await pilot.press("slash", *LOOKED_UP_JOB, "enter")

        def shown() -> bool:
            return isinstance(app.screen, JobScreen) and app.screen.query_one(DetailText).text.startswith("job:")

        await async_wait_for(shown, timeout=_TIMEOUT, what="the job's details")

    await _snapshot("job_lookup", FixedSource(), drive)
