"""What every monitor screen shares: the app, the read-only rule for the keys that change
something, confirmation, running a change in the background, and how a snapshot reaches it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.screen import Screen

from naq.tui.data import Snapshot
from naq.tui.dialogs import ConfirmDialog
from naq.tui.widgets import StatusBar
from naq.tui.widgets.keys_bar import KeysBar
from naq.tui.widgets.status_bar import ConnectionState

if TYPE_CHECKING:
    from naq.tui.app import MonitorApp

__all__ = ["MonitorScreen", "NaqScreen", "one_line"]


def one_line(exc: BaseException) -> str:
    """An error as one line: its message, or its type when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


class NaqScreen(Screen[None]):
    """A monitor screen. Its actions named in :attr:`CHANGES` change something in naq: in
    read-only mode their keys are hidden and refused."""

    CHANGES: ClassVar[frozenset[str]] = frozenset()
    """Names of this screen's actions that change something."""

    @property
    def monitor(self) -> MonitorApp:
        """The app, typed."""
        return cast("MonitorApp", self.app)

    def on_screen_resume(self) -> None:
        for bar in self.query(KeysBar):
            bar.show_keys()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide (and refuse) the changes in read-only mode."""
        return not (action in self.CHANGES and self.monitor.read_only)

    def confirm_then(self, question: str, then: Callable[[], None], confirm: str = "Yes") -> None:
        """Ask ``question``; call ``then`` only if the answer is yes."""

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmDialog(question, confirm), answered)

    @work(group="changes")
    async def run_change(self, what: str, call: Callable[[], Awaitable[str]]) -> None:
        """Run ``call`` (which says what it did) in the background; its outcome, or why it
        failed, is a notification. ``what`` names the change for the failure message."""
        if self.monitor.read_only:  # a second guard, for a change reached other than by its key
            self.notify(f"Read-only: did not {what}.", severity="warning")
            return
        try:
            done = await call()
        except Exception as exc:  # shown, never a traceback: the monitor keeps running
            self.notify(f"Could not {what}: {one_line(exc)}", severity="error")
            return
        self.notify(done)
        self.after_change()

    def after_change(self) -> None:
        """A change went through: read the figures again now."""
        self.monitor.refresh_now()


class MonitorScreen(NaqScreen):
    """A screen that shows the app's latest snapshot and connection state (see :meth:`show`)."""

    _shown: tuple[ConnectionState, Snapshot | None] | None = None

    def on_mount(self) -> None:
        # A screen opened between two reads shows the last one at once.
        self.show(self.monitor.connection, self.monitor.snapshot)

    def on_screen_resume(self) -> None:
        # Shown again: whatever was read since it last showed something (usually nothing, as
        # the app keeps its kept screens current while they are hidden).
        state, snapshot = self.monitor.connection, self.monitor.snapshot
        shown = self._shown
        if self.is_mounted and (shown is None or shown[0] is not state or shown[1] is not snapshot):
            self.show(state, snapshot)

    def show(self, state: ConnectionState, snapshot: Snapshot | None) -> None:
        """Show the connection state and, once there is one, the latest snapshot."""
        bars = self.query(StatusBar)
        if not bars:  # mounted but not whole (being taken down as the app exits): nothing to show on
            return
        self._shown = (state, snapshot)
        bars.first().show(state, self.monitor.read_only)
        if snapshot is not None:
            self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Put ``snapshot`` in this screen's tables."""
        raise NotImplementedError
