"""A suspect runs alone (naq.worker._isolation): it waits for the running jobs, and holds new ones back."""

from __future__ import annotations

import asyncio

from harness.waiting import async_wait_for
from naq.worker._isolation import Isolation


async def _started(order: list[str], name: str, isolation: Isolation, release: asyncio.Event) -> None:
    await isolation.join()
    order.append(name)
    try:
        await release.wait()
    finally:
        isolation.leave()


async def _alone(order: list[str], name: str, isolation: Isolation, release: asyncio.Event) -> None:
    async with isolation.exclusive():
        order.append(name)
        assert isolation.running == 0, "nothing else runs beside a suspect"
        await release.wait()


async def test_ordinary_jobs_run_together_without_waiting() -> None:
    isolation = Isolation()
    await isolation.join()
    await isolation.join()
    assert isolation.running == 2
    isolation.leave()
    isolation.leave()
    assert isolation.running == 0


async def test_a_suspect_waits_for_running_jobs_and_new_ones_wait_for_it() -> None:
    isolation, order = Isolation(), []
    first, suspect_done, later_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(_started(order, "running", isolation, first))
    await async_wait_for(lambda: order == ["running"], what="the first job running")
    suspect = asyncio.create_task(_alone(order, "suspect", isolation, suspect_done))
    await async_wait_for(lambda: isolation.waiting == 1, what="the suspect waiting")
    later = asyncio.create_task(_started(order, "later", isolation, later_done))
    for _ in range(5):  # give both every chance to start too early
        await asyncio.sleep(0)
    assert order == ["running"], "the suspect waits for the running job, the new job waits for the suspect"
    first.set()
    await async_wait_for(lambda: order == ["running", "suspect"], what="the suspect running alone")
    assert "later" not in order
    suspect_done.set()
    await async_wait_for(lambda: order == ["running", "suspect", "later"], what="the later job running")
    later_done.set()
    await asyncio.gather(running, suspect, later)
    assert (isolation.running, isolation.waiting, isolation.alone) == (0, 0, False)


async def test_a_suspect_cancelled_while_waiting_holds_nothing_up() -> None:
    isolation, order = Isolation(), []
    first, never, later_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(_started(order, "running", isolation, first))
    await async_wait_for(lambda: order == ["running"], what="the first job running")
    suspect = asyncio.create_task(_alone(order, "suspect", isolation, never))
    await async_wait_for(lambda: isolation.waiting == 1, what="the suspect waiting")
    later = asyncio.create_task(_started(order, "later", isolation, later_done))
    suspect.cancel()  # its worker stops while it waits
    await asyncio.gather(suspect, return_exceptions=True)
    await async_wait_for(lambda: "later" in order, what="the later job starting")
    first.set()
    later_done.set()
    await asyncio.gather(running, later)
    assert (isolation.running, isolation.waiting, isolation.alone) == (0, 0, False)
