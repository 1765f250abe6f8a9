"""The monitor app: :func:`make_app` builds it over a :class:`~naq.tui.data.DataSource`.

One background worker reads a snapshot at most once a second and hands it, with the connection
state, to every open screen. A failed read is shown in the status bar (unreachable, with a hint)
and retried on the next tick; it never ends the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from functools import partial
from typing import ClassVar, Final

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from naq.client import NaqError
from naq.tui.data import DataSource, NatsDataSource, Snapshot
from naq.tui.dialogs import JobIdDialog
from naq.tui.screens import FailedScreen, JobScreen, OverviewScreen, SchedulesScreen
from naq.tui.screens.base import MonitorScreen, one_line
from naq.tui.widgets.status_bar import ConnectionState

__all__ = ["CLOSE_TIMEOUT", "REFRESH_INTERVAL", "MonitorApp", "make_app"]

REFRESH_INTERVAL: Final = 1.0
"""Least seconds between the starts of two snapshot reads."""

CLOSE_TIMEOUT: Final = 5.0
"""Most seconds quitting waits for the data source to close."""


def _reason(exc: BaseException) -> str:
    # One line: the status bar has room for the message, not for a traceback.
    text = one_line(exc)
    return text if isinstance(exc, NaqError | OSError | TimeoutError) else f"{type(exc).__name__}: {text}"


class MonitorApp(App[None]):
    """The naq monitor. Build it with :func:`make_app`."""

    CSS_PATH = "monitor.tcss"
    TITLE = "naq monitor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "schedules", "Schedules"),
        Binding("f", "failed", "Failed"),
        Binding("slash", "lookup", "Job lookup", key_display="/"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: DataSource, *, read_only: bool = False) -> None:
        super().__init__()
        self.source = source
        """Where the figures come from and where actions go."""
        self.read_only = read_only
        """True: no key changes anything (their bindings are hidden)."""
        self.connection = ConnectionState(source.url)
        """The state of the last read."""
        self.snapshot: Snapshot | None = None
        """The last snapshot read (kept while the server is unreachable)."""
        self.hidden_workers: set[str] = set()
        """Lost workers the user hid (``h`` on the overview); one that beats again is shown again."""
        self._wake = asyncio.Event()
        self._kept: tuple[MonitorScreen, ...] = ()

    def on_mount(self) -> None:
        if self.read_only:
            self.sub_title = "read-only"
        # Kept for the whole run, and kept current while hidden (see _read_once): coming back to
        # one is a switch, not a rebuild of its tables.
        self._kept = (SchedulesScreen(), FailedScreen())
        self.install_screen(self._kept[0], "schedules")
        self.install_screen(self._kept[1], "failed")
        self.push_screen(OverviewScreen())
        self._refresh_loop()

    async def on_unmount(self) -> None:
        # Quitting must not wait on the network: a source that cannot close soon is left.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.source.close(), CLOSE_TIMEOUT)

    def action_schedules(self) -> None:
        """Show the schedules screen."""
        self._show_installed("schedules")

    def action_failed(self) -> None:
        """Show the failed jobs screen."""
        self._show_installed("failed")

    def _show_installed(self, name: str) -> None:
        screen = self.get_screen(name)
        if screen is self.screen:
            return
        if screen in self.screen_stack:  # further down: back to it, not a second copy
            while self.screen is not screen:
                self.pop_screen()
        else:
            self.push_screen(screen)

    def action_lookup(self) -> None:
        """Ask for a job id, then show what naq keeps about it."""
        if not isinstance(self.screen, JobIdDialog):
            self.push_screen(JobIdDialog(), self._show_job)

    def _show_job(self, job_id: str | None) -> None:
        if job_id is not None:
            self.push_screen(JobScreen(job_id))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): Textual's own commands, then every action the keys of
        the current screen can take now (in read-only mode, none that changes something)."""
        yield from super().get_system_commands(screen)
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.enabled and binding.show and binding.action not in ("quit", "command_palette"):
                run = partial(self.run_action, binding.action, active.node)
                yield SystemCommand(binding.description, f"key {binding.key_display or key}", run)

    def refresh_now(self) -> None:
        """Read the figures again now, not at the next tick (after an action changed them)."""
        self._wake.set()

    @work(exclusive=True, group="refresh")
    async def _refresh_loop(self) -> None:
        while True:  # until the app exits, which cancels this worker
            started = time.monotonic()
            await self._read_once()
            left = max(0.0, REFRESH_INTERVAL - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
            self._wake.clear()

    async def _read_once(self) -> None:
        try:
            snapshot = await self.source.snapshot()
        except Exception as exc:  # any failed read is a state to show, not a crash
            self.connection = ConnectionState(
                self.source.url, error=_reason(exc), updated_at=self.connection.updated_at, checked_at=time.time()
            )
        else:
            self.snapshot = snapshot
            self.connection = ConnectionState(self.source.url, connected=True, updated_at=snapshot.at)
        shown = [screen for screen in self.screen_stack if isinstance(screen, MonitorScreen)]
        shown += [screen for screen in self._kept if screen not in shown]
        for screen in shown:
            if screen.is_mounted:
                screen.show(self.connection, self.snapshot)


def make_app(source: DataSource | str | None = None, *, read_only: bool = False) -> MonitorApp:
    """The monitor over ``source``: a :class:`DataSource`, or a NATS URL (``None``: ``NAQ_NATS_URL``)
    read through :class:`NatsDataSource`. ``read_only`` hides and refuses every key that changes
    something (purge, schedule and failed-job actions, cancelling a job)."""
    if source is None or isinstance(source, str):
        source = NatsDataSource(source)
    return MonitorApp(source, read_only=read_only)
