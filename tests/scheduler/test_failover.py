"""Three ``naq-scheduler`` processes: kill -9, SIGTERM and SIGSTOP of the leader, every run once.

Runs are counted in ``naq_jobs`` (no worker consumes them) by message id, which is the run's job
id: ``<schedule_id>-r<due millis>``. Clocks: lock TTL 2 s, renewal 0.5 s, poll 0.25 s. Deadlines
are about 5x the figure they check; observation windows are bounded loops.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import pytest

from harness.processes import ProcessGroup
from harness.schedules import leader, published_runs, run_due_times
from harness.waiting import async_wait_for
from naq.client import Queue, ScheduledJob

POLL = 0.25
LOCK_TTL = 2.0
INTERVAL = 1.0


def spawn_schedulers(processes: ProcessGroup, env: Mapping[str, str], names: Sequence[str]) -> dict[str, Any]:
    """Start ``naq-scheduler --instance-id NAME --poll-interval 0.25`` for each name."""
    return {
        name: processes.spawn("naq-scheduler", "--instance-id", name, "--poll-interval", str(POLL), env=dict(env))
        for name in names
    }


async def make_schedules(queue: Queue, count: int) -> list[ScheduledJob]:
    """``count`` schedules firing every second, their first runs spread over the next second."""
    return [
        await queue.schedule("harness.jobs:add", i, i, interval=INTERVAL, schedule_id=f"s{i:02d}") for i in range(count)
    ]


async def wait_leader(js: Any, processes: ProcessGroup, running: Mapping[str, Any], not_: str | None = None) -> str:
    """The instance id of the leader (other than ``not_``); fails if a scheduler process died."""

    async def found() -> str | None:
        for name, process in running.items():
            if process.poll() is not None:
                log = processes.output(process)[-3000:]
                raise AssertionError(f"scheduler {name} exited {process.returncode}:\n{log}")
        holder = await leader(js)
        return holder if holder is not None and holder != not_ else None

    return await async_wait_for(found, timeout=(LOCK_TTL + POLL) * 5, interval=0.02, what="a scheduler leads")


async def assert_each_run_once(nc: Any, schedules: Sequence[ScheduledJob]) -> dict[str, list[float]]:
    """Every published run carries a distinct id, and each schedule's due times keep its cadence."""
    counts = await published_runs(nc)
    doubled = {run: n for run, n in counts.items() if n != 1}
    assert not doubled, f"runs enqueued more than once: {doubled}"
    due = {s.schedule_id: run_due_times(counts, s.schedule_id) for s in schedules}
    for schedule_id, times in due.items():
        # A missed run merges into the next one; a run between two due times would be a stray.
        gaps = [b - a for a, b in pairwise(times)]
        assert all(gap >= INTERVAL - 0.01 for gap in gaps), f"{schedule_id}: due times {times}"
    return due


async def observe(seconds: float, processes: ProcessGroup, running: Mapping[str, Any]) -> None:
    """Let the schedulers work for ``seconds``; fail at once if one of them exits."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.1) + 2):
        for name, process in running.items():
            assert process.poll() is None, f"scheduler {name} exited:\n{processes.output(process)[-3000:]}"
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.1)


async def firing_with_three_schedulers(
    processes: ProcessGroup, env: Mapping[str, str], queue: Queue, nc: Any, js: Any
) -> tuple[list[ScheduledJob], dict[str, Any], str]:
    """20 schedules and three schedulers ``a``, ``b``, ``c``, once the leader has fired a round:
    (the schedules, the scheduler processes by name, the leader's name)."""
    schedules = await make_schedules(queue, 20)
    running = spawn_schedulers(processes, env, ["a", "b", "c"])
    first = await wait_leader(js, processes, running)
    await async_wait_for(lambda: _runs(nc, 20), timeout=10, what="the leader fires")
    return schedules, running, first


@pytest.fixture
def queue(test_settings: Any) -> Queue:
    """The default queue, with the test settings."""
    return Queue(settings=test_settings)


async def test_kill_9_of_the_leader_mid_stream_enqueues_every_run_once_and_a_standby_leads_in_time(
    processes: ProcessGroup, naq_env: dict[str, str], queue: Queue, nc: Any, js: Any
) -> None:
    schedules, running, first = await firing_with_three_schedulers(processes, naq_env, queue, nc, js)
    await observe(1.5, processes, running)
    running[first].kill()
    killed_at = time.monotonic()
    running[first].wait(10)
    survivors = {name: p for name, p in running.items() if name != first}
    second = await wait_leader(js, processes, survivors, not_=first)
    takeover = time.monotonic() - killed_at
    assert takeover <= (LOCK_TTL + POLL) * 5, f"takeover took {takeover:.2f} s"
    before = sum(len(t) for t in (await assert_each_run_once(nc, schedules)).values())
    await observe(3, processes, survivors)
    due = await assert_each_run_once(nc, schedules)
    assert sum(len(t) for t in due.values()) >= before + 20, f"{second} did not go on firing"
    print(f"kill -9 takeover: {takeover:.2f} s (lock TTL {LOCK_TTL} s + poll {POLL} s)")


async def _runs(nc: Any, at_least: int) -> bool:
    return sum((await published_runs(nc)).values()) >= at_least


async def test_a_clean_stop_of_the_leader_hands_over_within_one_poll(
    processes: ProcessGroup, naq_env: dict[str, str], queue: Queue, nc: Any, js: Any
) -> None:
    schedules = await make_schedules(queue, 5)
    running = spawn_schedulers(processes, naq_env, ["a", "b"])
    first = await wait_leader(js, processes, running)
    # Wait until the standby is up too (its log says it started), so the handover is not a start.
    standby = next(name for name in running if name != first)
    await async_wait_for(
        lambda: "started with" in processes.output(running[standby]), timeout=15, what="standby started"
    )
    stopping = time.monotonic()
    assert ProcessGroup.stop(running[first]) == 0, processes.output(running[first])[-3000:]
    stopped = time.monotonic()
    second = await wait_leader(js, processes, {standby: running[standby]}, not_=first)
    handover = time.monotonic() - stopped
    assert second == standby
    assert handover <= POLL * 5 + 1, f"handover took {handover:.2f} s after the leader exited"
    assert "no longer leads (stopped)" in processes.output(running[first])
    await observe(1.5, processes, {standby: running[standby]})
    await assert_each_run_once(nc, schedules)
    print(f"clean-stop handover: {handover:.2f} s after exit ({stopped - stopping:.2f} s to exit)")


async def test_a_frozen_leader_that_wakes_after_a_takeover_enqueues_nothing_twice(
    processes: ProcessGroup, naq_env: dict[str, str], queue: Queue, nc: Any, js: Any
) -> None:
    schedules, running, first = await firing_with_three_schedulers(processes, naq_env, queue, nc, js)
    frozen = running[first]
    frozen.send_signal(signal.SIGSTOP)
    try:
        others = {name: p for name, p in running.items() if name != first}
        await wait_leader(js, processes, others, not_=first)
        await observe(1.0, processes, others)
    finally:
        frozen.send_signal(signal.SIGCONT)
    woke = time.monotonic()
    await async_wait_for(
        lambda: "no longer leads" in processes.output(frozen), timeout=POLL * 5 + 1, what="the old leader stood down"
    )
    stood_down = time.monotonic() - woke
    await observe(2.0, processes, running)
    await assert_each_run_once(nc, schedules)
    assert await leader(js) != first
    print(f"frozen leader stood down {stood_down:.2f} s after SIGCONT")
