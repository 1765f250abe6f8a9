"""``completed`` events: jobs that finish together share one event; every job is in exactly one."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from harness.jobs import add
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import Queue
from naq.protocol import EventKind, EventRecord


async def test_each_completed_job_is_in_exactly_one_completed_event(
    run_worker: WorkerRunner, queue: Queue, nc: Any
) -> None:
    events: list[EventRecord] = []

    async def on_event(message: Any) -> None:
        events.append(EventRecord.decode(message.data))

    subscription = await nc.subscribe("naq.events.default.completed", cb=on_event)
    try:
        async with run_worker(concurrency=20):
            jobs = await queue.enqueue_many(add, [(i, 1) for i in range(300)])
            values = await asyncio.gather(*(job.result(timeout=30) for job in jobs))
            assert values == [i + 1 for i in range(300)]

            def announced() -> Counter[str]:
                return Counter(job_id for event in events for job_id in event.job_ids)

            await async_wait_for(lambda: len(announced()) == 300, timeout=10, what="every completion announced")
    finally:
        await subscription.unsubscribe()
    assert announced() == Counter({job.job_id: 1 for job in jobs}), "each job in exactly one event"
    assert all(event.kind == EventKind.COMPLETED for event in events)
    assert len(events) < 300, "jobs that finished together shared an event"
    for event in events:
        if event.job_id is None:  # a batch: one entry per job in each list
            count = event.data["count"]
            assert count == len(event.job_ids) > 1
            assert len(event.data["attempts"]) == len(event.data["started_at"]) == len(event.data["durations"]) == count
            assert set(event.data["attempts"]) == {1}
        else:
            assert event.data["attempt"] == 1
            assert event.data["duration"] >= 0


def test_job_ids_of_events() -> None:
    single = EventRecord(kind="completed", queue="default", at=1.0, job_id="j1")
    batch = EventRecord(kind="completed", queue="default", at=1.0, data={"job_ids": ["a", "b"], "count": 2})
    odd = EventRecord(kind="completed", queue="default", at=1.0, data={"job_ids": "not a list"})
    assert (single.job_ids, batch.job_ids, odd.job_ids) == (("j1",), ("a", "b"), ())
