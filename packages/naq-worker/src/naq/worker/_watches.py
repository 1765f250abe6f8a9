"""In-memory views a worker keeps from KV watches, so no per-job lookup is needed on the hot path.

- :class:`WaitingIndex` (``naq_waiting``): which jobs have dependents parked on them, and the jobs
  this worker ended in the last few seconds, so a dependent parked just as its dependency ended
  (the watch can lag the write) is still released by the worker that ended the dependency.
- :class:`CancelledJobs` (``naq_job_status``): the ids of cancelled jobs, so a queued job that was
  cancelled is recognised when it is delivered.

Each view starts with the bucket's current keys before the worker fetches its first job.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from naq.protocol import JobStatus, JobStatusRecord, ResultStatus, SerializationError, names

__all__ = ["CancelledJobs", "WaitingIndex"]

_RECENT_SECONDS: Final = 10.0
"""How long a worker remembers the jobs it ended, for dependents whose parking it sees late."""


class WaitingIndex:
    """Dependents parked on each job (from ``naq_waiting`` keys ``<dependency>.<dependent>``).

    ``on_late_parking(dependency, dependent, state)`` is called when a dependent is parked on a job
    this worker ended in the last ``_RECENT_SECONDS``: its parker may have looked before the end was
    written, and this worker looked at the index before the parking arrived.
    """

    def __init__(self, on_late_parking: Callable[[str, str, ResultStatus], None]) -> None:
        self._dependents: dict[str, set[str]] = {}
        self._ended: dict[str, ResultStatus] = {}
        self._ended_order: deque[tuple[float, str]] = deque()
        self._on_late_parking = on_late_parking

    def on_entry(self, entry: Any) -> None:
        """Apply one watched key."""
        dependency, _, dependent = entry.key.partition(".")
        if entry.operation in names.KV_DELETE_OPERATIONS:
            dependents = self._dependents.get(dependency)
            if dependents is not None:
                dependents.discard(dependent)
                if not dependents:
                    del self._dependents[dependency]
            return
        self._dependents.setdefault(dependency, set()).add(dependent)
        state = self._ended.get(dependency)
        if state is not None:
            self._on_late_parking(dependency, dependent, state)

    def ended(self, job_id: str, state: ResultStatus) -> list[str]:
        """Note that this worker ended ``job_id``; the dependents parked on it (usually none)."""
        now = time.monotonic()
        order = self._ended_order
        while order and now - order[0][0] > _RECENT_SECONDS:
            _, old = order.popleft()
            self._ended.pop(old, None)
        self._ended[job_id] = state
        order.append((now, job_id))
        dependents = self._dependents.get(job_id)
        return list(dependents) if dependents else []


class CancelledJobs:
    """Ids of cancelled jobs, from the cancelled states in ``naq_job_status`` and cancel commands."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def on_entry(self, entry: Any) -> None:
        """Apply one watched status."""
        if entry.operation in names.KV_DELETE_OPERATIONS or not entry.value:
            self.ids.discard(entry.key)
            return
        try:
            cancelled = JobStatusRecord.decode(entry.value).status == JobStatus.CANCELLED
        except SerializationError:
            return
        if cancelled:
            self.ids.add(entry.key)
        # A later state of the job (queued again by a requeue) does not undo the cancel: a cancelled
        # job keeps its terminal result, and the worker reads that on any later delivery.

    def add(self, job_id: str) -> None:
        """Note a cancel command."""
        self.ids.add(job_id)
