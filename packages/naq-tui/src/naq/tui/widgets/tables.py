"""Tables of the snapshot's queues, workers and schedules, and of the dead-letter queue; each keys
its rows by their id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime

from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from naq.client import FailedEntry, QueueStats, ScheduleRecord, WorkerHeartbeat
from naq.protocol import FailedJobRecord
from naq.tui.rates import QueueRates

__all__ = ["FailedTable", "QueuesTable", "SchedulesTable", "WorkersTable", "brief", "cadence", "relative", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"

Row = tuple[str, tuple[object, ...]]


class _SnapshotTable(DataTable[object]):
    """A table shown anew by each snapshot, changed in place: rows that went are removed, new
    ones added, and of the others only the cells that changed are rewritten, so a refresh of
    1,000 rows costs little more than the cells that moved (a rebuild would measure every cell
    again). The cursor stays on its row."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._cells: dict[str, tuple[object, ...]] = {}
        self._column_keys: list[ColumnKey] = []

    def on_mount(self) -> None:
        self._column_keys = self.add_columns(*self.COLUMNS)

    def _replace(self, rows: Sequence[Row]) -> None:
        selected = self.selected_key
        wanted = dict(rows)
        for key in [key for key in self._cells if key not in wanted]:
            self.remove_row(key)
        order = [key for key in self._cells if key in wanted]
        for key, cells in rows:
            before = self._cells.get(key)
            if before is None:
                self.add_row(*cells, key=key)
                order.append(key)
            elif before != cells:
                self._update_row(key, before, cells)
        self._cells = wanted
        if order != [key for key, _ in rows]:
            # Every row's cells are unique (its first columns identify it), so they give its place.
            place = {cells: index for index, (_, cells) in enumerate(rows)}
            self.sort(key=lambda values: place.get(tuple(values), len(place)))
        if selected in wanted:
            self.move_cursor(row=self.get_row_index(selected))

    def _update_row(self, key: str, before: tuple[object, ...], cells: tuple[object, ...]) -> None:
        for column_key, old, new in zip(self._column_keys, before, cells, strict=True):
            if old != new:
                # Columns only grow: measure again only a value wider than its column.
                wider = len(str(new)) > self.columns[column_key].content_width
                self.update_cell(key, column_key, new, update_width=wider)

    @property
    def selected_key(self) -> str | None:
        """The key (queue name, worker or schedule id) of the row under the cursor."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)  # None: too many to count (see QueueStats)


def sparkline(values: Sequence[float], width: int = 20) -> str:
    """The last ``width`` values as bars scaled to their largest (all low when every one is 0)."""
    shown = list(values)[-width:]
    top = max(shown, default=0.0)
    if top <= 0:
        return _BARS[0] * len(shown)
    return "".join(_BARS[min(len(_BARS) - 1, int(value / top * (len(_BARS) - 1) + 0.5))] for value in shown)


def _rate(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


class QueuesTable(_SnapshotTable):
    """One row per queue: its :class:`~naq.client.QueueStats` and its rates over the last minute."""

    COLUMNS = (
        "queue",
        "pending",
        "in flight",
        "redelivered",
        "delayed",
        "parked",
        "failed",
        "workers",
        "oldest",
        "done/s",
        "failed/s",
        "throughput (last minute)",
    )

    def show(self, queues: Sequence[QueueStats], rates: Mapping[str, QueueRates]) -> None:
        """Show ``queues`` with their ``rates`` (by queue name; none yet: zeros)."""
        self._replace([(s.queue, _queue_cells(s, rates.get(s.queue, QueueRates()))) for s in queues])


def _queue_cells(stats: QueueStats, rates: QueueRates) -> tuple[object, ...]:
    age = stats.oldest_pending_age
    return (
        stats.queue,
        stats.pending,
        stats.in_flight,
        stats.redelivered,
        _count(stats.delayed),
        _count(stats.parked),
        stats.dead_lettered,
        stats.workers,
        "-" if age is None else f"{age:.0f}s",
        _rate(rates.completed),
        _rate(rates.failed),
        sparkline(rates.throughput),
    )


class WorkersTable(_SnapshotTable):
    """One row per worker: its latest heartbeat (the age as of ``now``); a lost one says so."""

    COLUMNS = ("worker", "host", "pid", "status", "queues", "jobs", "processed", "failed", "heartbeat")

    def show(self, workers: Sequence[WorkerHeartbeat], now: float, lost: AbstractSet[str] = frozenset()) -> None:
        """Show ``workers``, heartbeat ages relative to ``now`` (Unix seconds), those in ``lost``
        as lost."""
        self._replace([(w.worker_id, _worker_cells(w, now, w.worker_id in lost)) for w in workers])


def _worker_cells(beat: WorkerHeartbeat, now: float, lost: bool) -> tuple[object, ...]:
    return (
        beat.worker_id,
        beat.hostname,
        beat.pid,
        "LOST" if lost else str(beat.status),
        ", ".join(beat.queues),
        f"{len(beat.current_jobs)}/{beat.concurrency}",
        beat.processed,
        beat.failed,
        f"{max(0.0, now - beat.heartbeat_at):.0f}s ago",
    )


def cadence(record: ScheduleRecord) -> str:
    """How a schedule repeats: its cron expression (and zone), its interval, or ``once``."""
    if record.cron is not None:
        return record.cron if record.cron_tz is None else f"{record.cron} ({record.cron_tz})"
    if record.interval is not None:
        return f"every {record.interval:g}s"
    return "once"


def relative(seconds: float) -> str:
    """A time from now, coarse as a clock is read: ``in 5s``, ``in 3m 2s``, ``in 2h 5m``,
    ``in 3d 4h``; a past one is ``5s late``."""
    late = seconds < 0
    left = round(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    text = " ".join(parts)
    return f"{text} late" if late else f"in {text}"


class SchedulesTable(_SnapshotTable):
    """One row per schedule or pending one-off job; the next run is also given relative to ``now``."""

    COLUMNS = (
        "schedule",
        "function",
        "queue",
        "cron / interval",
        "next run",
        "at (UTC)",
        "runs left",
        "status",
        "failures",
    )

    def show(self, schedules: Sequence[ScheduleRecord], now: float) -> None:
        """Show ``schedules`` as of ``now`` (Unix seconds)."""
        self._replace([(r.schedule_id, _schedule_cells(r, now)) for r in schedules])


def _schedule_cells(record: ScheduleRecord, now: float) -> tuple[object, ...]:
    next_run = datetime.fromtimestamp(record.next_run_at, UTC).strftime("%m-%d %H:%M:%S")
    left = record.runs_left
    return (
        record.schedule_id,
        record.job.function,
        record.job.queue,
        cadence(record),
        relative(record.next_run_at - now),
        next_run,
        "unlimited" if left is None else left,
        str(record.status),
        record.failures,
    )


def brief(text: str, width: int = 48) -> str:
    """``text`` on one line, cut to ``width`` characters (ending ``...`` when cut)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


class FailedTable(_SnapshotTable):
    """One row per dead-letter record, newest first, keyed by its subject (unique in the stream);
    :attr:`entries` maps each key back to its :class:`~naq.client.FailedEntry`."""

    COLUMNS = ("id", "queue", "function", "error", "message", "failed at (UTC)", "attempts")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: dict[str, FailedEntry] = {}
        """The records shown, by row key."""

    def show(self, entries: Sequence[FailedEntry]) -> None:
        """Show ``entries``, newest first."""
        ordered = sorted(entries, key=lambda e: (-e.record.failed_at, e.subject))
        self.entries = {entry.subject: entry for entry in ordered}
        self._replace([(entry.subject, _failed_cells(entry)) for entry in ordered])

    @property
    def selected_entry(self) -> FailedEntry | None:
        """The record under the cursor."""
        key = self.selected_key
        return None if key is None else self.entries.get(key)


def _failed_cells(entry: FailedEntry) -> tuple[object, ...]:
    record = entry.record
    function: str
    attempts: object
    if isinstance(record, FailedJobRecord):
        function, attempts = record.job.function, record.attempts
    else:
        function, attempts = "(undecodable message)", "-"
    failed_at = datetime.fromtimestamp(record.failed_at, UTC).strftime("%m-%d %H:%M:%S")
    error_type = record.error.type.rpartition(":")[2] or record.error.type
    return (entry.id, entry.queue, function, error_type, brief(record.error.message), failed_at, attempts)
