"""The worker's back-off while its storage refuses writes (a full results bucket or dead-letter
queue, a stream that is gone).

A write of a job's outcome that JetStream refuses has the job delivered again later (a delayed
nak); meanwhile the worker fetches no new jobs, since their outcomes could not be stored either.
The pause starts at ``first`` seconds and doubles with each failure that follows a pause, up to
``most``; the first write that goes through ends it. Failures of the jobs already running when a
pause began count once, so a burst of them is one step, not a jump to the longest pause. Each step
is reported once (an ERROR line and a ``storage_error`` event, by the caller): never a line per job
per second, never a loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

__all__ = ["STORAGE_RETRY_DELAY", "STORAGE_RETRY_MAX", "StorageBackoff"]

STORAGE_RETRY_DELAY: Final = 5.0
"""Seconds of the first pause after a refused write (and the delay of that job's redelivery)."""

STORAGE_RETRY_MAX: Final = 60.0
"""Longest pause, however many writes failed in a row."""


class StorageBackoff:
    """How long the worker holds off after refused writes; :meth:`failed` and :meth:`succeeded`
    are told of each outcome write, :meth:`wait` is awaited before each fetch."""

    def __init__(self, first: float = STORAGE_RETRY_DELAY, most: float = STORAGE_RETRY_MAX) -> None:
        self.first = first
        self.most = most
        self.steps = 0
        """Pauses in a row since the last write that went through."""
        self.refused = 0
        """Writes refused since the last write that went through (reported with each step)."""
        self._until = 0.0  # monotonic end of the current pause

    @property
    def paused(self) -> bool:
        """Whether the worker holds off now."""
        return time.monotonic() < self._until

    def failed(self) -> tuple[float, bool]:
        """A write was refused: the delay before the job comes back, and whether this began a new
        step of the pause (to be reported) rather than fell within the current one."""
        self.refused += 1
        if self.paused:
            return max(self._until - time.monotonic(), 0.0), False
        self.steps += 1
        delay = self.step_delay(self.steps)
        self._until = time.monotonic() + delay
        return delay, True

    def step_delay(self, step: int) -> float:
        """Seconds of the ``step``-th pause in a row (from 1): ``first``, doubling, at most ``most``."""
        return min(self.first * 2 ** (step - 1), self.most)

    def succeeded(self) -> None:
        """A write went through: storage works again. Cheap: called for every stored result."""
        if self.steps:
            self.steps = 0
            self.refused = 0
            self._until = 0.0

    async def wait(self, stopping: asyncio.Event) -> None:
        """Return once the pause is over (at once if there is none) or ``stopping`` is set."""
        while not stopping.is_set():
            left = self._until - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(stopping.wait(), left)
            except TimeoutError:
                continue
