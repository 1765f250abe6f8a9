"""The failed jobs: the dead-letter queue, newest first; enter shows the selected one in full."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Label

from naq.tui.data import FAILED_LIMIT, Snapshot
from naq.tui.screens.base import MonitorScreen
from naq.tui.screens.details import FailedJobScreen
from naq.tui.widgets import FailedTable, StatusBar

__all__ = ["FailedScreen"]


class FailedScreen(MonitorScreen):
    """Every dead-letter record (up to :data:`~naq.tui.data.FAILED_LIMIT`), re-read on each tick of
    the app's refresh while no earlier read is still going."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,o", "app.pop_screen", "Overview"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._reading = False

    def compose(self) -> ComposeResult:
        with Vertical(id="failed-pane", classes="pane"):
            yield Label("Failed jobs", id="failed-title", classes="pane-title")
            yield FailedTable(id="failed")
        yield StatusBar()
        yield Footer()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """The server answered: read the dead-letter queue again (unless a read is still going)."""
        if not self._reading:
            self._reading = True
            self._read()

    @work(group="failed-read")
    async def _read(self) -> None:
        title = self.query_one("#failed-title", Label)
        try:
            entries = await self.monitor.source.failed_jobs(FAILED_LIMIT)
        except Exception as exc:  # shown in the title; the next tick tries again
            title.update(f"Failed jobs (could not read: {' '.join(str(exc).split()) or type(exc).__name__})")
            return
        finally:
            self._reading = False
        more = f", the first {FAILED_LIMIT} shown" if len(entries) >= FAILED_LIMIT else ""
        title.update(f"Failed jobs ({len(entries)}{more})")
        self.query_one(FailedTable).show(entries)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: that record in full."""
        entry = self.query_one(FailedTable).entries.get(str(event.row_key.value))
        if entry is not None:
            self.app.push_screen(FailedJobScreen(entry))
