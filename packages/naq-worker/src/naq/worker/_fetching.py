"""The fetch loop of one queue: fetch for as many slots as are free, start a task per message.

Every queue a worker serves has its own loop, all reserving from the worker's one
:class:`~naq.worker._slots.Slots`. An idle queue polls with a single slot, so it does not hold
slots a busy queue could use; once it gets jobs it fetches for every free slot, lingering a moment
for a quarter of them to be free (one fetch for many slots costs one round trip). A fetch that
fails backs off, and so does a worker whose job outcomes cannot be stored; a stopping worker
hands back what it fetched and did not start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from loguru import logger

from naq.worker._backoff import StorageBackoff
from naq.worker._delivery import Delivery
from naq.worker._slots import Slots

__all__ = ["FETCH_LINGER", "FETCH_MAX", "FETCH_WAIT", "Fetcher"]

FETCH_MAX: Final = 256
"""Most messages asked for in one fetch."""

FETCH_WAIT: Final = 1.0
"""Seconds a fetch waits for messages; also how soon a stopping worker stops fetching."""

FETCH_LINGER: Final = 0.002
"""Seconds a fetch waits for a quarter of the slots to be free before fetching for fewer."""

ERROR_BACKOFF: Final = 1.0
"""Seconds before a fetch that failed (connection trouble) is tried again."""


class Fetcher:
    """Fetches ``queue``'s messages from ``subscription`` (the queue's pull consumer) while
    ``stopping`` is not set.

    Each message becomes a :class:`Delivery` handled by a task running ``handle(delivery)``,
    kept in ``running`` (the worker's running jobs) and holding one of ``slots`` until the task
    gives it back. While ``backoff`` is paused (writes of outcomes refused) it fetches nothing. With
    ``drained`` (burst mode), an empty fetch asks it whether every queue is
    empty and nothing runs, and sets ``stopping`` if so.
    """

    def __init__(
        self,
        queue: str,
        subscription: Any,
        slots: Slots,
        stopping: asyncio.Event,
        handle: Callable[[Delivery], Coroutine[Any, Any, None]],
        running: dict[asyncio.Task[None], Delivery],
        drained: Callable[[], Awaitable[bool]] | None = None,
        backoff: StorageBackoff | None = None,
    ) -> None:
        self.queue = queue
        self.subscription = subscription
        self.slots = slots
        self.stopping = stopping
        self.handle = handle
        self.running = running
        self.drained = drained
        self.backoff = backoff
        self._enough = max(1, slots.capacity // 4)

    async def run(self) -> None:
        """Fetch until the worker stops."""
        queue, subscription, slots, stopping = self.queue, self.subscription, self.slots, self.stopping
        idle = True
        backoff = self.backoff
        while not stopping.is_set():
            if backoff is not None and backoff.paused:  # outcomes cannot be stored: fetch nothing
                await backoff.wait(stopping)
                continue
            wanted = await self.reserve(1 if idle else FETCH_MAX)
            if wanted == 0:
                break
            try:
                messages = await subscription.fetch(wanted, timeout=FETCH_WAIT)
            except TimeoutError:
                # No messages. nats.errors.TimeoutError subclasses the built-in, and nats-py 2.16
                # also raises a bare one when the server's "no messages" lands just before its
                # deadline: both are an empty fetch, not a failure.
                messages = []
            except Exception as exc:  # connection trouble: back off and try again, never spin
                slots.release(wanted)
                idle = True
                logger.warning("fetch from queue {} failed: {}: {}", queue, type(exc).__name__, exc)
                await asyncio.sleep(ERROR_BACKOFF)
                continue
            slots.release(wanted - len(messages))
            idle = not messages
            if stopping.is_set():
                for message in messages:  # fetched but not started: hand back at once
                    await message.nak()
                slots.release(len(messages))
                break
            for message in messages:
                delivery = Delivery(message, queue, started=time.monotonic())
                task = asyncio.create_task(self.handle(delivery))
                self.running[task] = delivery
            if self.drained is not None and not messages and await self.drained():
                stopping.set()

    async def reserve(self, most: int) -> int:
        """Up to ``most`` free slots to fetch for, waiting for one; 0 if the worker stops meanwhile."""
        stopping = self.stopping
        enough = min(most, self._enough)
        reserve = asyncio.ensure_future(self.slots.reserve(most, enough, FETCH_LINGER))
        stopped = asyncio.ensure_future(stopping.wait())
        done, _ = await asyncio.wait({reserve, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if reserve in done:
            taken = reserve.result()
            if stopping.is_set():
                self.slots.release(taken)
                return 0
            return taken
        reserve.cancel()
        await asyncio.gather(reserve, return_exceptions=True)
        if reserve.done() and not reserve.cancelled() and reserve.exception() is None:
            self.slots.release(reserve.result())
        return 0
