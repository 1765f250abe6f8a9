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
        """Wait until a slot is free, then take up to ``most`` free slots; returns how many (>= 1).

        With fewer than ``enough`` free, wait up to ``linger`` seconds for more to free up: one fetch
        for many slots costs one round trip, where a fetch per freed slot costs one per job. Several
        queues reserve from the same slots, so another may take them while this one lingers: then
        it waits again rather than return none (a fetch loop takes 0 for "stopping").
        """
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            # Below zero when a fetch brought more than it asked for (nats-py hands over every
            # message already buffered): wait for those jobs too.
            while self.free <= 0:
                self._changed.clear()
                await self._changed.wait()
            if deadline is None:
                deadline = loop.time() + linger
            while 0 < self.free < enough:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            if self.free > 0:
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
