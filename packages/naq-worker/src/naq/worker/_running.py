"""The jobs a worker runs now: one task per delivery, watched while it runs, drained on stop.

Each delivery's task runs the processor and, whatever happens, gives its slot back (unless a
timed-out sync job's thread still holds it) and leaves the running set. A watcher announces jobs
still running after a moment and sends in-progress acks every third of the ack wait, so a long
job is not redelivered. On stop, running jobs get a grace period, then are cancelled and handed
back (nak) for another worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from loguru import logger

from naq.client.runtime import Connection, stop_tasks
from naq.worker._delivery import Delivery, announce_started
from naq.worker._slots import Slots

__all__ = ["ANNOUNCE_AFTER", "BUG_REDELIVERY_DELAY", "RunningJobs"]

BUG_REDELIVERY_DELAY: Final = 5.0
"""Seconds before a job whose handling raised unexpectedly (a bug in naq) is delivered again."""

ANNOUNCE_AFTER: Final = 0.25
"""Seconds a job runs before its ``started`` event is published (and the watcher's period)."""


class RunningJobs:
    """The running jobs of one worker: ``changed`` is told when a job leaves (the heartbeat's
    cue), ``slots`` bound how many run at once; :meth:`bind` gives the processor, once the worker
    has connected."""

    def __init__(self, slots: Slots, changed: Callable[[], None]) -> None:
        self.slots = slots
        self.changed = changed
        self.tasks: dict[asyncio.Task[None], Delivery] = {}
        """Each running job's task and its delivery (the fetch loops add them)."""
        self.process: Callable[[Delivery], Coroutine[Any, Any, None]]

    def bind(self, process: Callable[[Delivery], Coroutine[Any, Any, None]]) -> None:
        """Handle each delivery with ``process`` (the processor's): before the first fetch."""
        self.process = process

    def job_ids(self) -> list[str]:
        """Ids of the jobs running now."""
        return [d.job_id for d in self.tasks.values() if d.job_id is not None]

    async def handle(self, delivery: Delivery) -> None:
        """The task of one delivery: process it; a bug in naq hands the job back, never kills the worker."""
        try:
            await self.process(delivery)
        except asyncio.CancelledError:
            await _hand_back(delivery)
            raise
        except Exception:  # a bug in naq itself: hand the job back, keep the worker alive
            logger.exception("unexpected error handling a job; it will be delivered again")
            # After a delay: the same message meets the same bug, and an immediate redelivery made
            # a hot loop (found by fuzzing: a huge Naq-Attempt overflowed the retry delay).
            await _hand_back(delivery, delay=BUG_REDELIVERY_DELAY)
        finally:
            task = asyncio.current_task()
            self.tasks.pop(task, None)  # type: ignore[arg-type]
            if delivery.job_id is not None:
                self.changed()
            if not delivery.slot_kept:
                self.slots.release()

    def cancel(self, job_id: str) -> bool:
        """Cancel ``job_id`` if it runs here: an async job is interrupted, a sync job is told
        through ``ctx.cancelled``; its outcome is recorded as cancelled. False if it is not here."""
        for task, delivery in self.tasks.items():
            if delivery.job_id != job_id:
                continue
            delivery.cancel_requested = True
            if delivery.context is not None:
                delivery.context.cancelled = True
            if delivery.interruptible:
                task.cancel()
            logger.info("job {} cancelled while running", job_id)
            return True
        return False

    async def watch(self, connection: Connection, worker_id: str, ack_wait: float) -> None:
        """Announce jobs that are still running after a moment, and keep long ones from being
        redelivered with in-progress acks every third of ``ack_wait``. Runs until cancelled.

        ``started`` events go out only for jobs running longer than ``ANNOUNCE_AFTER``: a short
        job's one event is its ``completed`` (which carries ``started_at``), as the hot-path budget
        of one event per job asks.
        """
        progress_every = ack_wait / 3
        while True:
            await asyncio.sleep(ANNOUNCE_AFTER)
            now = time.monotonic()
            for delivery in list(self.tasks.values()):
                running_for = now - delivery.started
                if running_for < ANNOUNCE_AFTER or delivery.job_id is None:
                    continue
                try:
                    await announce_started(connection, worker_id, delivery, delivery.queue, delivery.job_id)
                    if now - max(delivery.started, delivery.last_progress) >= progress_every:
                        delivery.last_progress = now
                        await delivery.message.in_progress()
                except Exception as exc:  # finished meanwhile, or connection trouble
                    logger.debug("watching job {} failed: {}", delivery.job_id, exc)

    async def drain(self, grace: float, stop_now: asyncio.Event) -> None:
        """Wait for running jobs up to ``grace`` seconds (or ``stop_now``), then hand back the rest."""
        if self.tasks:
            waiting = asyncio.ensure_future(asyncio.wait(set(self.tasks), timeout=grace))
            stopped = asyncio.ensure_future(stop_now.wait())
            await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            waiting.cancel()
        leftovers = list(self.tasks)
        stuck = await stop_tasks(leftovers)
        if stuck:
            logger.error("{} job task(s) would not stop; exiting without them", len(stuck))
        if leftovers:
            logger.warning("handed back {} job(s) that did not finish within the grace period", len(leftovers))


async def _hand_back(delivery: Delivery, delay: float | None = None) -> None:
    try:
        await delivery.message.nak(delay=delay)
    except Exception as exc:  # already acked or connection gone: redelivered after ack wait
        logger.debug("could not hand back a job: {}", exc)
