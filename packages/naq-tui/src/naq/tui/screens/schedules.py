"""The schedules: each schedule's cadence, next run and status; pause and resume the selected one."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Label

from naq.tui.data import Snapshot
from naq.tui.screens.base import MonitorScreen
from naq.tui.widgets import SchedulesTable, StatusBar

__all__ = ["SchedulesScreen"]

_CHANGES = frozenset({"pause", "resume"})
"""Actions that change a schedule: refused (and their keys hidden) in read-only mode."""


class SchedulesScreen(MonitorScreen):
    """Every schedule and pending one-off job, soonest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("escape,o", "app.pop_screen", "Overview"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="schedules-pane", classes="pane"):
            yield Label("Schedules", classes="pane-title")
            yield SchedulesTable(id="schedules")
        yield StatusBar()
        yield Footer()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Fill the table from ``snapshot``."""
        self.query_one(SchedulesTable).show(snapshot.schedules)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide (and refuse) the schedule changes in read-only mode."""
        return not (action in _CHANGES and self.monitor.read_only)

    def action_pause(self) -> None:
        """Pause the selected schedule."""
        self._change("pause")

    def action_resume(self) -> None:
        """Resume the selected schedule."""
        self._change("resume")

    def _change(self, action: str) -> None:
        schedule_id = self.query_one(SchedulesTable).selected_key
        if schedule_id is None:
            self.notify("No schedule selected.", severity="warning")
            return
        self._apply(action, schedule_id)

    @work(group="schedule-changes")
    async def _apply(self, action: str, schedule_id: str) -> None:
        source = self.monitor.source
        call = source.pause_schedule if action == "pause" else source.resume_schedule
        try:
            found = await call(schedule_id)
        except Exception as exc:  # shown, never a traceback: the monitor keeps running
            self.notify(f"Could not {action} {schedule_id}: {exc}", severity="error")
            return
        if found:
            self.notify(f"{schedule_id}: {action}d.")
        else:
            self.notify(f"{schedule_id}: no such schedule (cancelled or done?).", severity="warning")
