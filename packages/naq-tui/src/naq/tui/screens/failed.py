"""The failed jobs: the dead-letter queue, newest first, filtered by queue, function and error
type; enter shows the selected one in full; requeue one, requeue all shown, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable

from naq.client import FailedEntry
from naq.protocol import FailedJobRecord
from naq.tui.data import FAILED_LIMIT, Snapshot
from naq.tui.dialogs import FilterDialog
from naq.tui.screens.base import MonitorScreen, one_line
from naq.tui.screens.details import FailedJobScreen
from naq.tui.widgets import FailedTable, StatusBar
from naq.tui.widgets.keys_bar import KeysBar
from naq.tui.widgets.pane_title import PaneTitle

__all__ = ["FILTER_FIELDS", "REREAD_INTERVAL", "FailedScreen", "matches"]

FILTER_FIELDS = ("queue", "function", "error type")
"""What the failed jobs can be filtered by."""

REREAD_INTERVAL = 10.0
"""Most seconds between two reads of the dead-letter queue while its counts stay the same."""


def _function(entry: FailedEntry) -> str:
    return entry.record.job.function if isinstance(entry.record, FailedJobRecord) else ""


def matches(entry: FailedEntry, wanted: Mapping[str, str]) -> bool:
    """Whether ``entry`` passes the filter: the queue and function exactly, the error type as
    its full name (``module:Class``) or its class name alone."""
    error_type = entry.record.error.type
    checks = {
        "queue": (entry.queue,),
        "function": (_function(entry),),
        "error type": (error_type, error_type.rpartition(":")[2]),
    }
    return all(value in checks[name] for name, value in wanted.items() if name in checks)


class FailedScreen(MonitorScreen):
    """Every dead-letter record (up to :data:`~naq.tui.data.FAILED_LIMIT`). Read again when the
    queues' dead-letter counts change, after an action, when the screen is shown again, and at
    least every :data:`REREAD_INTERVAL` seconds; not on every tick (a thousand records a second
    would cost the monitor more than everything else it does)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "requeue", "Requeue"),
        Binding("R", "requeue_all", "Requeue all shown", key_display="R"),
        Binding("d", "delete", "Delete"),
        Binding("F", "filter", "Filter", key_display="F"),
        Binding("escape,o", "app.pop_screen", "Overview"),
    ]
    CHANGES = frozenset({"requeue", "requeue_all", "delete"})

    def __init__(self) -> None:
        super().__init__()
        self._reading = False
        self.wanted: dict[str, str] = {}
        """The filter: field name (of :data:`FILTER_FIELDS`) to the value it must have."""
        self._entries: tuple[FailedEntry, ...] = ()
        self._counts: tuple[tuple[str, int], ...] | None = None
        self._read_at = 0.0
        self._stale = True

    def compose(self) -> ComposeResult:
        with Vertical(id="failed-pane", classes="pane"):
            yield PaneTitle("Failed jobs", id="failed-title")
            yield FailedTable(id="failed")
        yield StatusBar()
        yield KeysBar()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """The server answered: read the dead-letter queue again if it may have changed (and no
        read is still going)."""
        if not self.is_current:  # hidden: read when shown again, not in the background
            self._stale = True
            return
        counts = tuple((stats.queue, stats.dead_lettered) for stats in snapshot.queues)
        due = self._stale or counts != self._counts or snapshot.at - self._read_at >= REREAD_INTERVAL
        if due and not self._reading:
            self._reading, self._stale = True, False
            self._counts, self._read_at = counts, snapshot.at
            self._read()

    def on_screen_resume(self) -> None:
        # Before MonitorScreen.on_screen_resume (Textual runs both, this class's first).
        self._stale = True
        if self.is_mounted and self.monitor.snapshot is not None:
            self.show_snapshot(self.monitor.snapshot)

    def after_change(self) -> None:
        """Requeued or deleted: read the dead-letter queue again with the next figures."""
        self._stale = True
        super().after_change()

    @work(group="failed-read")
    async def _read(self) -> None:
        try:
            entries = await self.monitor.source.failed_jobs(FAILED_LIMIT)
        except Exception as exc:  # shown in the title; the next tick tries again
            self.query_one("#failed-title", PaneTitle).show(f"Failed jobs (could not read: {one_line(exc)})")
            return
        finally:
            self._reading = False
        self._entries = entries
        self._show()

    def _show(self) -> None:
        shown = self.shown
        more = f", the first {FAILED_LIMIT} read" if len(self._entries) >= FAILED_LIMIT else ""
        which = f"{len(shown)} of {len(self._entries)} match {self._describe()}" if self.wanted else len(shown)
        self.query_one("#failed-title", PaneTitle).show(f"Failed jobs ({which}{more})")
        self.query_one(FailedTable).show(shown)

    def _describe(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in self.wanted.items())

    @property
    def shown(self) -> Sequence[FailedEntry]:
        """The records read that pass the filter."""
        return [entry for entry in self._entries if matches(entry, self.wanted)]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: that record in full."""
        entry = self.query_one(FailedTable).entries.get(str(event.row_key.value))
        if entry is not None:
            self.app.push_screen(FailedJobScreen(entry))

    # --- filter and actions -----------------------------------------------------------------

    def action_filter(self) -> None:
        """Ask for the filter (queue, function, error type)."""
        self.app.push_screen(FilterDialog("Filter failed jobs", FILTER_FIELDS, self.wanted), self._filtered)

    def _filtered(self, fields: dict[str, str] | None) -> None:
        if fields is not None:
            self.wanted = fields
            self._show()

    def _selected(self) -> FailedEntry | None:
        entry = self.query_one(FailedTable).selected_entry
        if entry is None:
            self.notify("No failed job selected.", severity="warning")
        return entry

    def action_requeue(self) -> None:
        """Put the selected job back on its queue."""
        entry = self._selected()
        if entry is None:
            return
        if entry.raw:
            self.notify(f"{entry.id} is an undecodable message, not a job: it can only be deleted.", severity="warning")
            return
        source = self.monitor.source

        async def requeue() -> str:
            return f"Requeued {await source.requeue_failed(entry)} on {entry.queue}."

        self.run_change(f"requeue {entry.id}", requeue)

    def action_requeue_all(self) -> None:
        """Requeue every job shown (the filter applied; undecodable messages left), after a
        confirmation that names how many."""
        jobs = [entry for entry in self.shown if not entry.raw]
        if not jobs:
            self.notify("No failed job shown to requeue.", severity="warning")
            return
        source = self.monitor.source

        async def requeue_all() -> str:
            for entry in jobs:
                await source.requeue_failed(entry)
            return f"Requeued {len(jobs)} job(s)."

        scope = f" matching {self._describe()}" if self.wanted else ""
        question = f"Requeue all {len(jobs)} failed job(s) shown{scope}? Each runs again with fresh attempts."
        self.confirm_then(question, lambda: self.run_change(f"requeue {len(jobs)} jobs", requeue_all), "Requeue all")

    def action_delete(self) -> None:
        """Delete the selected record for good, after a confirmation."""
        entry = self._selected()
        if entry is None:
            return
        source = self.monitor.source

        async def delete() -> str:
            await source.delete_failed(entry)
            return f"Deleted {entry.id} from the dead-letter queue."

        question = f"Delete failed job {entry.id} from the dead-letter queue for good?"
        self.confirm_then(question, lambda: self.run_change(f"delete {entry.id}", delete), "Delete")
