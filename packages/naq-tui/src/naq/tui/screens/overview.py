"""The overview: every queue's figures and rates, every worker, and the live event log."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical

from naq.client import ConfigurationError
from naq.tui.data import Snapshot
from naq.tui.dialogs import FilterDialog
from naq.tui.screens.base import MonitorScreen, one_line
from naq.tui.widgets import EventFilter, EventLog, QueuesTable, StatusBar, WorkersTable
from naq.tui.widgets.keys_bar import KeysBar
from naq.tui.widgets.pane_title import PaneTitle

__all__ = ["NO_QUEUES_HINT", "RETRY_EVENTS", "OverviewScreen"]

NO_QUEUES_HINT = "Queues (none yet: a queue appears with its first job; `naq demo` makes some)"
"""The queues pane's title while the server has no naq queue."""

RETRY_EVENTS = 2.0
"""Seconds before the event log follows the stream again after it was interrupted."""


class OverviewScreen(MonitorScreen):
    """Queues above, workers in the middle, the event log below. The log reads the event stream
    only while this screen is the one shown."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "purge", "Purge queue"),
        Binding("h", "hide_lost", "Hide lost workers"),
        Binding("F", "filter_events", "Filter events", key_display="F"),
    ]
    CHANGES = frozenset({"purge"})

    def __init__(self) -> None:
        super().__init__()
        self.event_filter = EventFilter()
        """What the event log shows."""
        self._snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="queues-pane", classes="pane"):
            yield PaneTitle("Queues", id="queues-title")
            yield QueuesTable(id="queues")
        with Vertical(id="workers-pane", classes="pane"):
            yield PaneTitle("Workers", id="workers-title")
            yield WorkersTable(id="workers")
        with Vertical(id="events-pane", classes="pane"):
            yield PaneTitle(f"Events ({self.event_filter.describe()})", id="events-title")
            yield EventLog(id="events")
        yield StatusBar()
        yield KeysBar()

    def on_mount(self) -> None:
        # (Textual also runs MonitorScreen.on_mount: handlers of every class are dispatched.)
        log = self.query_one(EventLog)
        self.set_interval(1.0, log.tick)
        self.set_interval(0.25, log.flush)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Fill both tables from ``snapshot`` (lost workers the user hid are left out)."""
        self._snapshot = snapshot
        hidden = self.monitor.hidden_workers
        hidden.intersection_update(snapshot.lost)  # a worker beating again is shown again
        workers = [beat for beat in snapshot.workers if beat.worker_id not in hidden]
        self.query_one("#queues-title", PaneTitle).show("Queues" if snapshot.queues else NO_QUEUES_HINT)
        self.query_one(QueuesTable).show(snapshot.queues, snapshot.rates)
        self.query_one(WorkersTable).show(workers, snapshot.at, snapshot.lost)
        lost = len(snapshot.lost - hidden)
        self.query_one("#workers-title", PaneTitle).show(f"Workers ({lost} lost: h hides them)" if lost else "Workers")

    # --- the event log: read only while shown -----------------------------------------------

    def on_screen_resume(self) -> None:
        self._follow_events()

    def on_screen_suspend(self) -> None:
        self.workers.cancel_group(self, "events")

    @work(exclusive=True, group="events")
    async def _follow_events(self) -> None:
        log = self.query_one(EventLog)
        wanted = self.event_filter
        said = ""
        while True:  # until the screen is hidden (which cancels this worker) or the filter is bad
            try:
                stream = self.monitor.source.events(wanted.queue, wanted.kinds)
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        if wanted.matches(event):
                            log.add(event)
                        # Events come in batches that need no network wait: without a pause here
                        # a busy queue's batch would hold the loop, and a key press with it.
                        await asyncio.sleep(0)
            except (ValueError, ConfigurationError) as exc:  # the filter itself: no use retrying
                log.write_line(f"(not a filter: {one_line(exc)}; F sets another)")
                return
            except Exception as exc:  # the status bar shows the connection; follow again soon
                line = f"(event stream interrupted: {one_line(exc)}; following it again as it comes back)"
                if line != said:  # once per cause, not once per try
                    log.write_line(line)
                    said = line
            await asyncio.sleep(RETRY_EVENTS)

    def action_filter_events(self) -> None:
        """Ask for the event log's filter (queue, kind, function)."""
        fields = ("queue", "kind", "function")
        self.app.push_screen(FilterDialog("Filter events", fields, self.event_filter.fields()), self._filtered)

    def _filtered(self, fields: dict[str, str] | None) -> None:
        if fields is None:
            return
        try:
            self.event_filter = EventFilter.from_fields(fields)
        except ValueError as exc:
            self.notify(f"Not a filter: {one_line(exc)}", severity="error")
            return
        self.query_one("#events-title", PaneTitle).show(f"Events ({self.event_filter.describe()})")
        self.query_one(EventLog).clear()
        # The screen resumes after the dialog, which starts the log again with the new filter.

    # --- actions ----------------------------------------------------------------------------

    def action_hide_lost(self) -> None:
        """Hide every worker shown as lost now (one that beats again comes back)."""
        if self._snapshot is not None and self._snapshot.lost:
            self.monitor.hidden_workers.update(self._snapshot.lost)
            self.show_snapshot(self._snapshot)
        else:
            self.notify("No lost workers.")

    def action_purge(self) -> None:
        """Purge the selected queue, after a confirmation that names how many jobs wait on it."""
        queue = self.query_one(QueuesTable).selected_key
        stats = None if self._snapshot is None else next((s for s in self._snapshot.queues if s.queue == queue), None)
        if queue is None or stats is None:
            self.notify("No queue selected.", severity="warning")
            return
        source = self.monitor.source

        async def purge() -> str:
            return f"Purged {await source.purge_queue(queue)} job(s) from {queue}."

        question = f"Purge queue {queue!r}: remove its {stats.pending} waiting job(s) for good?"
        self.confirm_then(question, lambda: self.run_change(f"purge {queue}", purge), "Purge")
