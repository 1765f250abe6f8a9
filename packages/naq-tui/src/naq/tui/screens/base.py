"""What every monitor screen shares: the status bar and footer, and how a snapshot reaches it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

from naq.tui.data import Snapshot
from naq.tui.widgets import StatusBar
from naq.tui.widgets.status_bar import ConnectionState

if TYPE_CHECKING:
    from naq.tui.app import MonitorApp

__all__ = ["MonitorScreen"]


class MonitorScreen(Screen[None]):
    """A screen that shows the app's latest snapshot and connection state (see :meth:`show`)."""

    @property
    def monitor(self) -> MonitorApp:
        """The app, typed."""
        return cast("MonitorApp", self.app)

    def on_mount(self) -> None:
        # A screen opened between two reads shows the last one at once.
        self.show(self.monitor.connection, self.monitor.snapshot)

    def show(self, state: ConnectionState, snapshot: Snapshot | None) -> None:
        """Show the connection state and, once there is one, the latest snapshot."""
        self.query_one(StatusBar).show(state)
        if snapshot is not None:
            self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Put ``snapshot`` in this screen's tables."""
        raise NotImplementedError
