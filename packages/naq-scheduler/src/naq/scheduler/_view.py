"""The scheduler's in-memory view of ``naq_scheduled_jobs``: fed by a KV watch, ordered by a heap.

Every scheduler (leader or standby) keeps the view, so a standby that takes over fires at once.
A tick costs a look at the heap's top, not a pass over every schedule: with 100,000 schedules an
idle scheduler does nothing per tick. Heap entries are invalidated lazily: an entry counts only
while its revision is still the schedule's current one.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import Any

from loguru import logger

from naq.protocol import ScheduleRecord, ScheduleStatus, SerializationError, names

__all__ = ["Due", "ScheduleView"]


Due = tuple[ScheduleRecord, int]
"""A schedule to fire now and the revision it was read at."""


def due_time(record: ScheduleRecord) -> float | None:
    """When the record next needs the leader: its claimed-but-unconfirmed run at once, else its
    next run; ``None`` if it does not fire (paused, failed, ended)."""
    if record.status != ScheduleStatus.ACTIVE:
        return None
    if record.pending_run_at is not None:
        return 0.0
    return record.next_run_at


class ScheduleView:
    """Schedules by id with their revisions, and a heap of (due time, revision, id)."""

    def __init__(self) -> None:
        self.records: dict[str, Due] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._forgotten: dict[str, int] = {}
        """Schedules we deleted ourselves, until the watch brings the delete: their older puts may
        still arrive and must not bring them back."""
        self.changed = asyncio.Event()
        """Set when an entry arrives that may be due sooner than the loop planned to wake."""

    def __len__(self) -> int:
        return len(self.records)

    def on_entry(self, entry: Any) -> None:
        """Apply one watched entry (a put, or a delete of a cancelled or finished schedule)."""
        revision = int(entry.revision or 0)
        forgotten = self._forgotten.get(entry.key)
        if forgotten is not None:
            if revision <= forgotten:
                return
            del self._forgotten[entry.key]
        if entry.operation in names.KV_DELETE_OPERATIONS or not entry.value:
            self.records.pop(entry.key, None)
            return
        try:
            record = ScheduleRecord.decode(entry.value)
        except SerializationError as exc:
            # A bad record must not stop the scheduler; it stays in the bucket for an operator.
            self.records.pop(entry.key, None)
            logger.warning("ignoring undecodable schedule {}: {}", entry.key, exc)
            return
        current = self.records.get(entry.key)
        if current is not None and current[1] > revision:
            return  # an older entry than one we applied already (our own writes arrive both ways)
        self.update(record, revision)

    def update(self, record: ScheduleRecord, revision: int) -> None:
        """Note ``record`` at ``revision`` (from the watch, or from our own write)."""
        current = self.records.get(record.schedule_id)
        if current is not None and current[1] >= revision:
            return
        self.records[record.schedule_id] = (record, revision)
        when = due_time(record)
        if when is not None:
            heapq.heappush(self._heap, (when, revision, record.schedule_id))
            self.changed.set()

    def forget(self, schedule_id: str, revision: int) -> None:
        """Drop ``schedule_id`` if it is still at ``revision`` (we deleted it)."""
        current = self.records.get(schedule_id)
        if current is not None and current[1] <= revision:
            del self.records[schedule_id]
            self._forgotten[schedule_id] = revision

    def _current(self, revision: int, schedule_id: str) -> Due | None:
        current = self.records.get(schedule_id)
        if current is None or current[1] != revision:
            return None
        return current

    def next_due(self) -> float | None:
        """The earliest due time in the view (stale heap entries are dropped on the way)."""
        heap = self._heap
        while heap:
            when, revision, schedule_id = heap[0]
            if self._current(revision, schedule_id) is not None:
                return when
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float, most: int) -> list[Due]:
        """Up to ``most`` schedules due at ``now``, removed from the heap (their records stay)."""
        due: dict[str, Due] = {}
        heap = self._heap
        while heap and len(due) < most and heap[0][0] <= now:
            _, revision, schedule_id = heapq.heappop(heap)
            current = self._current(revision, schedule_id)
            if current is not None:
                due[schedule_id] = current
        return list(due.values())

    def requeue(self, schedule_id: str) -> None:
        """Put the current record of ``schedule_id`` back on the heap at its due time (if it fires)."""
        current = self.records.get(schedule_id)
        if current is None:
            return
        when = due_time(current[0])
        if when is not None:
            heapq.heappush(self._heap, (when, current[1], schedule_id))

    def retry_at(self, record: ScheduleRecord, revision: int, when: float) -> None:
        """Look at ``record`` again at ``when`` (after a failed publish), unless it changes first."""
        if self._current(revision, record.schedule_id) is not None:
            heapq.heappush(self._heap, (when, revision, record.schedule_id))
            self.changed.set()
