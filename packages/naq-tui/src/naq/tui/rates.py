"""Per-queue rates from successive reads: completed/s and failed/s over the last minute (from the
workers' per-queue counters), and a throughput history for a sparkline (from the queue
consumer's acknowledgement floor).

Nothing here reads naq: :class:`RateTracker` is fed what each snapshot read, so the figures are
as cheap as the read itself and do not depend on per-job events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from naq.client import QueueStats, WorkerHeartbeat

__all__ = ["HISTORY", "WINDOW", "QueueRates", "RateTracker"]

WINDOW: Final = 60.0
"""Seconds over which completed/s and failed/s are averaged."""

HISTORY: Final = 60
"""Throughput samples kept per queue (one per read: about a minute at the monitor's pace)."""


@dataclass(frozen=True, slots=True)
class QueueRates:
    """One queue's rates; ``throughput`` is jobs answered per second, oldest sample first."""

    completed: float = 0.0
    failed: float = 0.0
    throughput: tuple[float, ...] = ()


@dataclass(slots=True)
class _Totals:
    """One queue's counts added up since the tracker started, the (time, completed, failed)
    samples of the last window, and the throughput history."""

    throughput: deque[float]
    completed: int = 0
    failed: int = 0
    acknowledged: int | None = None
    samples: deque[tuple[float, int, int]] = field(default_factory=deque)


def _counts_by_worker(workers: Iterable[WorkerHeartbeat]) -> dict[tuple[str, float], WorkerHeartbeat]:
    # Keyed by start time too: a worker restarted under the same id starts its counters at zero.
    return {(beat.worker_id, beat.started_at): beat for beat in workers}


def _growth(now: Mapping[str, int], before: Mapping[str, int], queue: str) -> int:
    return max(0, now.get(queue, 0) - before.get(queue, 0))


class RateTracker:
    """Turns successive reads into :class:`QueueRates`; call :meth:`update` once per read."""

    def __init__(self, window: float = WINDOW, history: int = HISTORY) -> None:
        self._window = window
        self._history = history
        self._totals: dict[str, _Totals] = {}
        self._workers: dict[tuple[str, float], WorkerHeartbeat] = {}
        self._at: float | None = None

    def update(
        self, at: float, queues: Iterable[QueueStats], workers: Iterable[WorkerHeartbeat]
    ) -> dict[str, QueueRates]:
        """Add the read made at ``at`` (Unix seconds); every queue's rates as of then."""
        current = _counts_by_worker(workers)
        elapsed = None if self._at is None else at - self._at
        rates: dict[str, QueueRates] = {}
        for stats in queues:
            totals = self._totals.get(stats.queue)
            if totals is None:
                totals = self._totals[stats.queue] = _Totals(deque(maxlen=self._history))
            self._add_counts(totals, stats.queue, current)
            self._add_throughput(totals, stats, elapsed)
            rates[stats.queue] = self._rates(totals, at)
        self._workers, self._at = current, at
        return rates

    def _add_counts(self, totals: _Totals, queue: str, current: Mapping[tuple[str, float], WorkerHeartbeat]) -> None:
        # Only workers seen in both reads count: a new worker's first counts are its baseline.
        for key, beat in current.items():
            before = self._workers.get(key)
            if before is not None:
                totals.completed += _growth(beat.processed_by_queue, before.processed_by_queue, queue)
                totals.failed += _growth(beat.failed_by_queue, before.failed_by_queue, queue)

    def _add_throughput(self, totals: _Totals, stats: QueueStats, elapsed: float | None) -> None:
        previous, totals.acknowledged = totals.acknowledged, stats.acknowledged
        if previous is None or elapsed is None or elapsed <= 0:
            return
        # A floor that went back means the consumer was made anew: no figure for this interval.
        answered = stats.acknowledged - previous
        totals.throughput.append(answered / elapsed if answered >= 0 else 0.0)

    def _rates(self, totals: _Totals, at: float) -> QueueRates:
        samples = totals.samples
        samples.append((at, totals.completed, totals.failed))
        while len(samples) > 1 and samples[0][0] < at - self._window:
            samples.popleft()
        first_at, first_completed, first_failed = samples[0]
        span = at - first_at
        if span <= 0:
            return QueueRates(throughput=tuple(totals.throughput))
        return QueueRates(
            completed=(totals.completed - first_completed) / span,
            failed=(totals.failed - first_failed) / span,
            throughput=tuple(totals.throughput),
        )
