"""Worker crashes under load: SIGKILL one of three busy workers every 2 s; every job completes.

2,000 jobs of 150 ms on 3 ``naq-worker`` processes of concurrency 10 (ack wait 2 s). Every 2 s
for 30 s one worker (in turn) is killed with SIGKILL and a new one started in its place. Proved
from the jobs' own execution records and the results bucket: every job completed, none lost, none
dead-lettered; kills hit running jobs (jobs started twice); the duplicate runs are at most
kills x concurrency (only the jobs a killed worker was running can run again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import Fleet, dead_letters, scaled, sleep_until, wait_all_ended, worker_args
from harness.chaos_jobs import executions, starts
from harness.processes import ProcessGroup
from harness.worker_processes import consumer_state, wait_registered
from naq.client import Queue

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

JOBS = scaled(2000, 10_000)
JOB_SECONDS = 0.15
WORKERS = 3
CONCURRENCY = 10
KILL_EVERY = 2.0
KILL_FOR = scaled(30.0, 150.0)
ACK_WAIT = "2"


@pytest.mark.timeout(scaled(150, 600))
async def test_sigkill_of_busy_workers_loses_and_dead_letters_nothing(
    chaos_env: dict[str, str],
    processes: ProcessGroup,
    run_dir: Path,
    js: Any,
    figures: Callable[..., dict[str, Any]],
) -> None:
    env = {**chaos_env, "NAQ_DEFAULT_ACK_WAIT": ACK_WAIT}
    fleet = Fleet(processes, "naq-worker", worker_args(CONCURRENCY), env, WORKERS, "w")
    await wait_registered(processes, fleet.live)
    began = time.monotonic()
    handles = await Queue().enqueue_many("harness.chaos_jobs:work", [[str(run_dir), JOB_SECONDS]] * JOBS)
    ids = {job.job_id for job in handles}
    assert len(ids) == JOBS

    # The kill cadence is a schedule: one kill every KILL_EVERY s, for KILL_FOR s or until
    # every job has ended (a kill with nothing left to run proves nothing).
    max_redelivered = 0
    for tick in range(int(KILL_FOR / KILL_EVERY)):
        await sleep_until(began + (tick + 1) * KILL_EVERY)
        fleet.supervise()
        _, ack_pending = await consumer_state(js)
        info = await js.consumer_info("naq_jobs", "naq-worker-default")
        max_redelivered = max(max_redelivered, info.num_redelivered)
        if info.num_pending == 0 and ack_pending == 0:
            break
        fleet.kill(tick % WORKERS)
    kill_phase = time.monotonic() - began

    ended = await wait_all_ended(js, ids, fleet, timeout=scaled(90, 300), supervise=True)
    elapsed = time.monotonic() - began
    records = {job_id: r for job_id, r in ended.items() if job_id in ids}
    completed = {job_id for job_id, r in records.items() if r.status == "completed"}
    dlq = [entry for entry in await dead_letters("default") if entry.id in ids]
    runs = starts(executions(run_dir))
    duplicates = sum(n - 1 for n in runs.values() if n > 1)
    kills = len(fleet.kills)
    shown = figures(
        enqueued=JOBS,
        completed=len(completed),
        lost=JOBS - len(records),
        dead_lettered=len(dlq),
        duplicate_runs=duplicates,
        jobs_run_twice_or_more=sum(1 for n in runs.values() if n > 1),
        kills=kills,
        max_consumer_redelivered=max_redelivered,
        kill_phase_s=kill_phase,
        total_s=elapsed,
    )

    assert kills >= 3, f"the jobs ended before the kills began: {shown}"
    assert duplicates > 0, f"no kill hit a running job (no job started twice): {shown}"
    reasons = "; ".join(f"{e.id}: {e.record.error}" for e in dlq)
    assert not dlq, f"dead-lettered: {reasons}{_history(dlq, run_dir, fleet)}"
    failed = {job_id: r.error for job_id, r in records.items() if r.status != "completed"}
    assert not failed, f"jobs that did not complete: {failed}"
    assert completed == ids, f"{len(ids - completed)} jobs lost"
    assert all(r.value == job_id for job_id, r in records.items()), "a result holds another job's value"
    never_ran = ids - set(runs)
    assert not never_ran, f"completed without an execution record: {sorted(never_ran)[:5]}"
    assert duplicates <= kills * CONCURRENCY, f"more duplicate runs than kills x in-flight: {shown}"
    assert all(p.poll() is None for p in fleet.live.values()), fleet.logs()


def _history(dlq: list[Any], run_dir: Path, fleet: Fleet) -> str:
    """Each dead-lettered job's executions beside the kills, for the failure message."""
    killed = {pid: at for _, pid, at in fleet.kills}
    lines = []
    for entry in dlq:
        lines.append(f"\n{entry.id}:")
        for e in executions(run_dir):
            if e.job_id == entry.id:
                fate = f" (pid killed at {killed[e.pid]:.3f})" if e.pid in killed else ""
                lines.append(f"  {e.event} pid {e.pid} at {e.at:.3f}{fate}")
    return "\n".join(lines)
