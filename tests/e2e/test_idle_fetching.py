"""An idle worker's empty fetches are not failures (issue 9, item 6).

nats-py 2.16 ends some empty ``fetch(n)`` calls (n > 1) with a bare ``TimeoutError`` instead of
``nats.errors.TimeoutError``: when the server's 408 for the pull request lands just before the
client's own deadline. A worker that took that for a failure logged a WARNING and slept 1 s before
its next fetch, delaying the next job by up to a second.

The race is won by chance (a few percent of empty ``fetch(n)`` calls on loopback), and only the
fetch that follows a job is a ``fetch(n)``: an idle worker polls with ``fetch(1)``. So the test
makes many busy-to-idle turns in its minute: four worker processes serve a queue each, and each
queue gets a burst, then one probe job at a time, each sent 0.15 s after the previous probe's
post-job fetch should have come back empty. That is exactly where a back-off would sleep, so a
back-off shows as a probe that waited most of a second, not only as a log line. (One queue per
worker: within one worker, a queue's post-job fetch holds every free slot while it waits, which
can delay another queue's next fetch by up to a second for a reason other than a back-off.)
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import naq.client
from harness.processes import ProcessGroup
from harness.worker_processes import result_record, spawn_worker, wait_registered, worker_logs
from naq.client import Queue

QUEUES = ("idle0", "idle1", "idle2", "idle3")
IDLE_SECONDS = 60.0
FETCH_WAIT = 1.0
"""The worker's fetch wait: an empty fetch comes back after this long."""
PROBE_OFFSET = 0.15
"""How long after a post-job fetch came back empty the next probe is sent: inside a back-off."""
LATE = 0.6
"""A probe that started this late after its enqueue waited for a back-off (which costs >= 0.85 s)."""

_PROBLEM = re.compile(r"\|\s*(WARNING|ERROR|CRITICAL)\s*\|")


@pytest.fixture
async def client(client_env: dict[str, str]) -> AsyncIterator[None]:
    """The test process's client uses the worker's settings; its connections close afterwards."""
    yield
    await naq.client.close()


async def _probe_queue(queue: Queue, js: Any) -> list[float]:
    """A burst on ``queue``, then one probe at a time until the idle minute is over.

    Returns each probe's delay from just before its enqueue to the start of its run.
    """
    burst = await queue.enqueue_many("harness.jobs:add", [[i, 1] for i in range(60)])
    await asyncio.gather(*(job.result(timeout=30) for job in burst))
    delays: list[float] = []
    last_started = time.time()
    end = time.monotonic() + IDLE_SECONDS
    for _ in range(int(IDLE_SECONDS / FETCH_WAIT) + 1):  # bounded: one probe per empty fetch at most
        if time.monotonic() >= end:
            break
        # Pacing, not synchronisation: the probe is placed where a back-off would be sleeping.
        await asyncio.sleep(max(0.0, last_started + FETCH_WAIT + PROBE_OFFSET - time.time()))
        sent = time.time()
        job = await queue.enqueue("harness.jobs:add", 1, 2)
        assert await job.result(timeout=10) == 3
        record = await result_record(js, job.job_id)
        assert record is not None
        assert record.started_at is not None
        delays.append(record.started_at - sent)
        last_started = record.started_at
    return delays


@pytest.mark.slow
async def test_busy_then_idle_worker_neither_warns_nor_backs_off(
    client: None, processes: ProcessGroup, naq_env: dict[str, str], js: Any
) -> None:
    workers = {
        f"idler-{name}": spawn_worker(
            processes, naq_env, f"idler-{name}", "--allow-module", "harness", concurrency=4, queues=[name]
        )
        for name in QUEUES
    }
    await wait_registered(processes, workers)

    per_queue = await asyncio.gather(*(_probe_queue(Queue(name), js) for name in QUEUES))

    logs = "\n".join(processes.output(worker) for worker in workers.values())
    problems = [line for line in logs.splitlines() if _PROBLEM.search(line)]
    assert not problems, "an idle worker logs no warning:\n" + "\n".join(problems[:20])
    delays = [delay for queue_delays in per_queue for delay in queue_delays]
    assert len(delays) >= len(QUEUES) * 30, f"only {len(delays)} probes ran in the idle minute"
    late = sorted(delay for delay in delays if delay >= LATE)
    assert not late, (
        f"{len(late)} of {len(delays)} probes waited for a back-off: {late} "
        f"(median {statistics.median(delays):.3f} s)\n{worker_logs(processes, list(workers.values()))}"
    )
