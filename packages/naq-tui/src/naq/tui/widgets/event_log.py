"""The live event log: one line per event, rate-capped, filtered by queue, kind and function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Self

from rich.cells import cell_len
from textual.widgets import Log

from naq.client import EventKind, EventRecord, SystemEventKind
from naq.tui.widgets.tables import brief

__all__ = ["ALL_KINDS", "LINES_PER_SECOND", "EventFilter", "EventLog", "event_line"]

ALL_KINDS: Final = "all"
"""The kind filter that takes every event, ``started`` ones too."""

_QUIET_KINDS: Final = tuple(kind.value for kind in (*EventKind, *SystemEventKind) if kind is not EventKind.STARTED)
"""What the log reads unless told otherwise: every kind but ``started``, one event per job run,
which on a busy queue would be nearly every message (the ``completed`` lines, batched, show the
work done)."""

LINES_PER_SECOND: Final = 50
"""Most lines the log writes in a second; the rest are counted in an "N events skipped" line."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events the log shows; an unset field matches every event."""

    queue: str | None = None
    kind: str | None = None
    """One kind; :data:`ALL_KINDS` for every kind; unset, every kind but ``started``."""
    function: str | None = None
    """Matched against the event's ``data["function"]`` (only events that carry one match)."""

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> EventFilter:
        """From the filter dialog's fields (``queue``, ``kind``, ``function``)."""
        return cls(fields.get("queue"), fields.get("kind"), fields.get("function"))

    def fields(self) -> dict[str, str]:
        """The set fields, for the filter dialog."""
        pairs = (("queue", self.queue), ("kind", self.kind), ("function", self.function))
        return {name: value for name, value in pairs if value}

    @property
    def kinds(self) -> tuple[str, ...] | None:
        """The kinds to ask the server for (``None``: every kind)."""
        if self.kind == ALL_KINDS:
            return None
        return _QUIET_KINDS if self.kind is None else (self.kind,)

    def matches(self, event: EventRecord) -> bool:
        """Whether ``event`` passes (queue and kind are also filtered by the server)."""
        kinds = self.kinds
        return (
            (self.queue is None or event.queue == self.queue)
            and (kinds is None or event.kind in kinds)
            and (self.function is None or event.data.get("function") == self.function)
        )

    def describe(self) -> str:
        """The filter in a few words, for the pane's title."""
        shown = ", ".join(f"{name}={value}" for name, value in self.fields().items() if name != "kind")
        kind = {None: "every kind but started", ALL_KINDS: "every kind"}.get(self.kind, f"kind={self.kind}")
        return f"{kind}, {shown}" if shown else kind


def event_line(event: EventRecord) -> str:
    """One event as a line: time, queue, kind, job (or how many), worker, and error if any."""
    at = datetime.fromtimestamp(event.at, UTC).strftime("%H:%M:%S")
    ids = event.job_ids
    jobs = ids[0] if len(ids) == 1 else f"{len(ids)} jobs" if ids else "-"
    parts = [at, event.queue, event.kind, jobs]
    if event.worker_id:
        parts.append(f"worker {event.worker_id}")
    function = event.data.get("function")
    if isinstance(function, str):
        parts.append(function)
    error, error_type = event.data.get("error"), event.data.get("error_type")
    if error or error_type:
        kind = f"{str(error_type).rpartition(':')[2]}: " if error_type else ""
        parts.append(f"{kind}{brief(str(error or ''), 80)}")
    return "  ".join(parts)


class EventLog(Log):
    """The newest events (up to 500 lines), at most :data:`LINES_PER_SECOND` lines a second.

    :meth:`add` only queues a line; :meth:`flush` (a few times a second) writes those queued in
    one go, because every write that grows the log lays the screen out again. :meth:`tick`, once
    a second, writes how many were skipped and starts the next second's budget.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=500, highlight=False, id=id)
        self._queued: list[str] = []
        self._written = 0
        self._skipped = 0

    def add(self, event: EventRecord) -> None:
        """Queue ``event``'s line, or count it as skipped when this second's budget is spent."""
        if self._written >= LINES_PER_SECOND:
            self._skipped += 1
            return
        self._written += 1
        self._queued.append(event_line(event))

    def _update_size(self, updates: int, lines: list[str]) -> None:
        # Textual's Log measures new lines in a thread worker, which fails the app with
        # NoActiveAppError when the app exits while it runs. Ours are short and rate-capped, so
        # they are measured here, on the event loop (Textual is pinned; this is its own hook).
        if lines:
            width = max(cell_len(self._process_line(line)) for line in lines)
            self._update_maximum_width(updates, width)

    def clear(self) -> Self:
        """Empty the log, and what is queued for it."""
        self._queued.clear()
        return super().clear()

    def flush(self) -> None:
        """Write the queued lines."""
        if self._queued:
            lines, self._queued = self._queued, []
            self.write_lines(lines)

    def tick(self) -> None:
        """End the current second: write what is queued, note the skipped events, reset the budget."""
        if self._skipped:
            self._queued.append(f"... {self._skipped} events skipped (more than {LINES_PER_SECOND} a second)")
        self.flush()
        self._written = self._skipped = 0
