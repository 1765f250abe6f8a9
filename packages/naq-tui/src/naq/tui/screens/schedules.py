"""The schedules: each schedule's cadence, next run and status; pause, resume, run now, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical

from naq.tui.data import Snapshot
from naq.tui.screens.base import MonitorScreen
from naq.tui.widgets import SchedulesTable, StatusBar
from naq.tui.widgets.keys_bar import KeysBar
from naq.tui.widgets.pane_title import PaneTitle

__all__ = ["SchedulesScreen"]


def _found(schedule_id: str, done: str) -> Callable[[bool], str]:
    missing = f"{schedule_id}: no such schedule (cancelled, or done?)"
    return lambda found: f"{schedule_id}: {done}." if found else missing


class SchedulesScreen(MonitorScreen):
    """Every schedule and pending one-off job, soonest first; the next run ticks with each read."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("n", "run_now", "Run now"),
        Binding("c", "cancel", "Cancel schedule"),
        Binding("escape,o", "app.pop_screen", "Overview"),
    ]
    CHANGES = frozenset({"pause", "resume", "run_now", "cancel"})

    def compose(self) -> ComposeResult:
        with Vertical(id="schedules-pane", classes="pane"):
            yield PaneTitle("Schedules", id="schedules-title")
            yield SchedulesTable(id="schedules")
        yield StatusBar()
        yield KeysBar()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Fill the table from ``snapshot``, next runs relative to when it was read."""
        count = len(snapshot.schedules)
        self.query_one("#schedules-title", PaneTitle).show(f"Schedules ({count})" if count else "Schedules (none)")
        self.query_one(SchedulesTable).show(snapshot.schedules, snapshot.at)

    def _selected(self) -> str | None:
        schedule_id = self.query_one(SchedulesTable).selected_key
        if schedule_id is None:
            self.notify("No schedule selected.", severity="warning")
        return schedule_id

    def _change(self, verb: str, done: str, call: Callable[[str], Awaitable[bool]]) -> None:
        schedule_id = self._selected()
        if schedule_id is not None:
            self._apply(schedule_id, verb, done, call)

    def _apply(self, schedule_id: str, verb: str, done: str, call: Callable[[str], Awaitable[bool]]) -> None:
        said = _found(schedule_id, done)

        async def change() -> str:
            return said(await call(schedule_id))

        self.run_change(f"{verb} {schedule_id}", change)

    def action_pause(self) -> None:
        """Pause the selected schedule."""
        self._change("pause", "paused", self.monitor.source.pause_schedule)

    def action_resume(self) -> None:
        """Resume the selected schedule."""
        self._change("resume", "resumed", self.monitor.source.resume_schedule)

    def action_run_now(self) -> None:
        """Enqueue one extra run of the selected schedule now."""
        schedule_id = self._selected()
        if schedule_id is not None:
            source = self.monitor.source

            async def run_now() -> str:
                return f"{schedule_id}: enqueued a run now, job {await source.run_schedule_now(schedule_id)}."

            self.run_change(f"run {schedule_id} now", run_now)

    def action_cancel(self) -> None:
        """Cancel the selected schedule for good, after a confirmation."""
        schedule_id = self._selected()
        if schedule_id is not None:
            question = f"Cancel schedule {schedule_id!r} for good? It will not run again."
            self.confirm_then(
                question,
                lambda: self._apply(schedule_id, "cancel", "cancelled", self.monitor.source.cancel_schedule),
                "Cancel schedule",
            )
