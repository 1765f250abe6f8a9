"""The fetch loop (naq.worker._fetching) against a real queue consumer: slots bound what it takes."""

from __future__ import annotations

import asyncio

from harness.waiting import async_wait_for
from harness.worker_parts import QueueTap, envelope
from harness.worker_runner import holds_for
from naq.client.runtime import stop_task
from naq.worker._delivery import Delivery
from naq.worker._fetching import FETCH_WAIT, Fetcher
from naq.worker._slots import Slots


class Jobs:
    """Stands in for the worker's job tasks: each holds its slot until ``finish`` is set."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self.running: dict[asyncio.Task[None], Delivery] = {}
        self.finish = asyncio.Event()
        self.started: list[Delivery] = []
        self.peak = 0

    async def handle(self, delivery: Delivery) -> None:
        self.started.append(delivery)
        self.peak = max(self.peak, self.slots.busy)
        try:
            await self.finish.wait()
            await delivery.message.ack()
        finally:
            self.running.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self.slots.release()


async def test_the_loop_takes_no_more_jobs_than_there_are_free_slots(tap: QueueTap) -> None:
    slots = Slots(3)
    jobs = Jobs(slots)
    stopping = asyncio.Event()
    for i in range(8):
        await tap.publish(envelope(f"slot-{i}"))
    fetcher = Fetcher("default", await tap.subscription(), slots, stopping, jobs.handle, jobs.running)
    loop = asyncio.create_task(fetcher.run())
    try:
        await async_wait_for(lambda: len(jobs.started) == 3, timeout=5, what="three jobs started")
        await holds_for(lambda: len(jobs.started) == 3 and slots.free == 0, 0.5, "no fourth job while three run")
        assert len(jobs.running) == 3
        jobs.finish.set()  # each finished job frees its slot: the rest follow, three at a time at most
        await async_wait_for(lambda: len(jobs.started) == 8, timeout=10, what="every job started")
        await async_wait_for(lambda: not jobs.running, timeout=5, what="every job finished")
        assert jobs.peak <= 3
        assert {d.message.subject for d in jobs.started} == {"naq.queue.default"}
        assert all(d.queue == "default" and d.started > 0 for d in jobs.started)
    finally:
        stopping.set()
        await asyncio.wait_for(loop, FETCH_WAIT + 5)
    assert slots.free == 3, "every slot back once the loop stopped"
    assert await tap.pending() == (0, 0)


async def test_an_idle_queue_polls_with_one_slot(tap: QueueTap) -> None:
    slots = Slots(4)
    jobs = Jobs(slots)
    stopping = asyncio.Event()
    fetcher = Fetcher("default", await tap.subscription(), slots, stopping, jobs.handle, jobs.running)
    loop = asyncio.create_task(fetcher.run())
    try:
        await async_wait_for(lambda: slots.free == 3, timeout=5, what="one slot held by the idle fetch")
        await holds_for(lambda: slots.free >= 3, FETCH_WAIT * 1.5, "an idle queue never holds more than one slot")
    finally:
        stopping.set()
        await asyncio.wait_for(loop, FETCH_WAIT + 5)
    assert slots.free == 4


async def test_a_burst_loop_stops_once_everything_is_drained(tap: QueueTap) -> None:
    slots = Slots(2)
    jobs = Jobs(slots)
    jobs.finish.set()
    stopping = asyncio.Event()
    asked: list[bool] = []

    async def drained() -> bool:
        asked.append(not jobs.running)
        return not jobs.running

    await tap.publish(envelope("burst-1"))
    fetcher = Fetcher("default", await tap.subscription(), slots, stopping, jobs.handle, jobs.running, drained)
    loop = asyncio.create_task(fetcher.run())
    try:
        await asyncio.wait_for(loop, FETCH_WAIT * 3 + 5)  # it ends by itself
    finally:
        await stop_task(loop)
    assert stopping.is_set()
    assert [d.job_id for d in jobs.started] == [None], "the job was handed over (decoded later)"
    assert asked[-1:] == [True], "asked once the queue ran dry, and told it was drained"
    assert await tap.pending() == (0, 0)


async def test_a_stopping_loop_takes_nothing_more(tap: QueueTap) -> None:
    slots = Slots(2)
    jobs = Jobs(slots)
    stopping = asyncio.Event()
    stopping.set()
    await tap.publish(envelope("left-1"))
    fetcher = Fetcher("default", await tap.subscription(), slots, stopping, jobs.handle, jobs.running)
    await asyncio.wait_for(fetcher.run(), 5)
    assert jobs.started == []
    assert slots.free == 2
    assert await tap.pending() == (1, 0), "the job is still on its queue for another worker"
