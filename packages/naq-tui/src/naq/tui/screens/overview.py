"""The overview: every queue's figures and every live worker."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Footer, Label

from naq.tui.data import Snapshot
from naq.tui.screens.base import MonitorScreen
from naq.tui.widgets import QueuesTable, StatusBar, WorkersTable

__all__ = ["OverviewScreen"]


class OverviewScreen(MonitorScreen):
    """Queues above, workers below."""

    def compose(self) -> ComposeResult:
        with Vertical(id="queues-pane", classes="pane"):
            yield Label("Queues", classes="pane-title")
            yield QueuesTable(id="queues")
        with Vertical(id="workers-pane", classes="pane"):
            yield Label("Workers", classes="pane-title")
            yield WorkersTable(id="workers")
        yield StatusBar()
        yield Footer()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Fill both tables from ``snapshot``."""
        self.query_one(QueuesTable).show(snapshot.queues)
        self.query_one(WorkersTable).show(snapshot.workers, snapshot.at)
