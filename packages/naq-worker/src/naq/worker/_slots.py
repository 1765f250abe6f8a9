"""One concurrency bound shared by every queue a worker serves."""

from __future__ import annotations

import asyncio

__all__ = ["Slots"]


class Slots:
    """``capacity`` slots; a fetch reserves what is free, each finished job gives one back."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free = capacity
        self._changed = asyncio.Event()

    @property
    def busy(self) -> int:
        """Slots in use."""
        return self.capacity - self.free

    async def reserve(self, most: int, enough: int = 1, linger: float = 0.0) -> int:
        """Wait until a slot is free, then take up to ``most`` free slots; returns how many.

        With fewer than ``enough`` free, wait up to ``linger`` seconds for more to free up: one fetch
        for many slots costs one round trip, where a fetch per freed slot costs one per job.
        """
        while self.free == 0:
            self._changed.clear()
            await self._changed.wait()
        deadline = asyncio.get_running_loop().time() + linger
        while self.free < enough:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        taken = min(most, self.free)
        self.free -= taken
        return taken

    def release(self, count: int = 1) -> None:
        """Give back ``count`` slots."""
        self.free += count
        self._changed.set()

    async def wait_idle(self) -> None:
        """Return once every slot is free."""
        while self.free < self.capacity:
            self._changed.clear()
            await self._changed.wait()
