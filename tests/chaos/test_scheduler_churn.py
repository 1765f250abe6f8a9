"""Scheduler churn: the leading scheduler is killed every 5 s; no run twice, no schedule starved.

50 schedules every 1 s (the production floor of ``NAQ_MIN_SCHEDULE_INTERVAL``), 3 ``naq-scheduler``
processes (lock TTL 2 s, renewal 0.5 s, poll 0.25 s) and 2 ``naq-worker`` processes running the
runs. Every 5 s for 30 s the scheduler holding the leader lock is killed with SIGKILL and started
again (a new process in its place). Proved from the runs' own execution records (a duplicate
publish is dropped silently by JetStream, so counting publishes would prove nothing): every run
id executed exactly once, no two runs of a schedule were due less than an interval apart (the
same tick fired under two ids), and no schedule went longer than lock TTL + poll + interval
(+ a tolerance, below) without a run starting.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import Fleet, longest_gap, scaled, sleep_until, worker_args
from harness.chaos_jobs import executions, starts
from harness.processes import ProcessGroup
from harness.schedules import due_millis, leader
from harness.waiting import async_wait_for
from harness.worker_processes import consumer_state, wait_registered
from naq.client import Queue

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

SCHEDULES = 50
INTERVAL = 1.0
LOCK_TTL = 2
RENEW = 0.5
POLL = 0.25
KILL_EVERY = 5.0
KILL_FOR = scaled(30.0, 180.0)
TOLERANCE = 1.0
"""Seconds on top of TTL + poll + interval: a run's start is its publish plus a worker's fetch and
thread start (tens of ms idle, a few hundred under load), the lock's TTL expires on the server's
timer (checked about once a second), and on 2 cores the replacement scheduler process starting
(about 1 s of CPU for its imports) competes with the new leader for the CPU."""


def scheduler_args(name: str) -> list[str]:
    """``naq-scheduler`` with the churn clocks, called ``name``."""
    return [
        "--instance-id", name,
        "--poll-interval", str(POLL),
        "--lock-ttl", str(LOCK_TTL),
        "--renew-interval", str(RENEW),
    ]  # fmt: skip


@pytest.mark.timeout(scaled(150, 400))
async def test_killing_the_leading_scheduler_runs_nothing_twice_and_starves_no_schedule(
    chaos_env: dict[str, str],
    processes: ProcessGroup,
    run_dir: Path,
    js: Any,
    figures: Callable[..., dict[str, Any]],
) -> None:
    queue = Queue()
    for i in range(SCHEDULES):
        await queue.schedule("harness.chaos_jobs:work", str(run_dir), interval=INTERVAL, schedule_id=f"s{i:02d}")
    workers = Fleet(processes, "naq-worker", worker_args(10), chaos_env, 2, "cw")
    schedulers = Fleet(processes, "naq-scheduler", scheduler_args, chaos_env, 3, "sch")
    await wait_registered(processes, workers.live)
    await async_wait_for(lambda: leader(js), timeout=30, what="a scheduler leads")
    await async_wait_for(
        lambda: len(starts(executions(run_dir))) >= SCHEDULES, timeout=30, interval=0.1, what="a first round of runs"
    )

    observed_from = time.time()
    began = time.monotonic()
    killed: list[str] = []
    for tick in range(int(KILL_FOR / KILL_EVERY)):
        await sleep_until(began + (tick + 1) * KILL_EVERY)
        workers.supervise()
        schedulers.supervise()
        holder = await leader(js)
        if holder is None or holder not in schedulers.live:
            continue  # between leaders at this instant: no kill this tick (counted below)
        killed.append(schedulers.kill(schedulers.slot_of(holder)))
    await sleep_until(began + KILL_FOR + KILL_EVERY)  # a last takeover has time to show in the runs
    observed_to = time.time()

    alive_at_end = all(p.poll() is None for p in schedulers.live.values())
    for process in schedulers.live.values():
        ProcessGroup.stop(process)  # no more runs, so the queue can drain
    await async_wait_for(lambda: _drained(js), timeout=30, interval=0.2, what="every run executed")
    runs = [e for e in executions(run_dir) if e.event == "start"]
    counts = starts(runs)
    twice = {job_id: n for job_id, n in counts.items() if n > 1}
    by_schedule: dict[str, list[float]] = defaultdict(list)
    due: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        schedule_id = run.job_id.rsplit("-r", 1)[0]
        by_schedule[schedule_id].append(run.at)
        due[schedule_id].append(due_millis(run.job_id) / 1000)
    gaps = {s: longest_gap(times, start=observed_from, end=observed_to) for s, times in by_schedule.items()}
    close_dues = {
        s: [round(b - a, 3) for a, b in pairwise(sorted(set(times))) if b - a < INTERVAL - 0.01]
        for s, times in due.items()
    }
    close_dues = {s: found for s, found in close_dues.items() if found}
    bound = LOCK_TTL + POLL + INTERVAL + TOLERANCE
    worst = max(gaps, key=gaps.__getitem__)
    shown = figures(
        schedules=SCHEDULES,
        runs_executed=len(runs),
        distinct_runs=len(counts),
        runs_executed_twice=len(twice),
        leader_kills=len(killed),
        longest_gap_s=gaps[worst],
        gap_bound_s=bound,
        schedulers_started=schedulers.starts,
        observed_s=observed_to - observed_from,
    )

    assert len(killed) >= int(KILL_FOR / KILL_EVERY) - 1, f"the leader was not found to kill often enough: {shown}"
    assert not twice, f"runs executed more than once: {dict(list(twice.items())[:10])}"
    assert not close_dues, f"runs of a schedule due less than {INTERVAL} s apart: {close_dues}"
    assert set(by_schedule) == {f"s{i:02d}" for i in range(SCHEDULES)}
    assert gaps[worst] <= bound, f"schedule {worst} went {gaps[worst]:.2f} s without a run (bound {bound} s)"
    assert alive_at_end, schedulers.logs()
    assert not workers.deaths, workers.logs()


async def _drained(js: Any) -> bool:
    return await consumer_state(js) == (0, 0)
