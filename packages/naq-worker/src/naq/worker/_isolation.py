"""Running a suspect job alone, so that a crash during it can only be its own.

A message delivered again without a recorded reason (no retry of ours explains it) was most
likely in flight on a worker that died. That worker may have died of another job: every job that
shared its process is a suspect, and charging the crash to all of them would dead-letter innocent
bystanders. So a suspect runs *isolated*: it waits until no other job runs on this worker, and no
other job starts until it ends. If the worker dies then, the crash was the suspect's own, and
only such a crash counts against ``NAQ_MAX_CRASH_REDELIVERIES``.

Jobs take the shared side (many at once), suspects the exclusive side (one, alone). A waiting
suspect goes first: new jobs wait behind it, so it cannot be starved by a busy queue. The shared
side costs a counter and no await while no suspect waits (the hot path).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["Isolation"]


class Isolation:
    """Shared runs for ordinary jobs, an exclusive run for a suspect (see the module docstring)."""

    def __init__(self) -> None:
        self.running = 0
        """Ordinary jobs running now."""
        self.waiting = 0
        """Suspects waiting to run alone."""
        self.alone = False
        """Whether a suspect runs now."""
        self._changed = asyncio.Event()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._changed.clear()
            await self._changed.wait()

    async def join(self) -> None:
        """Start an ordinary job: at once, unless a suspect runs or waits to. Pair with :meth:`leave`."""
        if self.alone or self.waiting:
            await self._until(lambda: not (self.alone or self.waiting))
        self.running += 1

    def leave(self) -> None:
        """An ordinary job ended."""
        self.running -= 1
        if self.waiting:
            self._changed.set()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Run a suspect alone: once the running jobs ended, keeping new ones from starting."""
        self.waiting += 1
        try:
            await self._until(lambda: not (self.alone or self.running))
        finally:
            self.waiting -= 1
            self._changed.set()  # a suspect cancelled while waiting must not hold up the others
        self.alone = True
        try:
            yield
        finally:
            self.alone = False
            self._changed.set()
