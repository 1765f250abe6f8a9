"""Poison beside bystanders: a job that kills its worker is dead-lettered alone, the others complete.

One job calling ``os._exit(1)`` among 50 normal ones (0.5 s each) on 2 ``naq-worker`` processes of
concurrency 4, restarted whenever they die. The poison ends in the dead-letter queue as worker-lost
(``WorkerLostError``) after ``NAQ_MAX_CRASH_REDELIVERIES`` (3) crashes; all 50 bystanders — some
of them running beside the poison each time it struck — complete; every worker slot is up at the
end, and each worker death is one run of the poison.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import Fleet, dead_letters, scaled, wait_all_ended, worker_args
from harness.chaos_jobs import executions, starts
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import live_worker_ids, wait_registered
from naq.client import Queue, Settings

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

BYSTANDERS = scaled(50, 500)
JOB_SECONDS = 0.5
CONCURRENCY = 4


@pytest.mark.timeout(scaled(120, 400))
async def test_only_the_poison_is_dead_lettered_and_its_bystanders_complete(
    chaos_env: dict[str, str],
    processes: ProcessGroup,
    run_dir: Path,
    js: Any,
    figures: Callable[..., dict[str, Any]],
) -> None:
    limit = Settings.from_env(chaos_env).max_crash_redeliveries
    assert limit == 3, "the default NAQ_MAX_CRASH_REDELIVERIES"
    fleet = Fleet(processes, "naq-worker", worker_args(CONCURRENCY), chaos_env, 2, "p")
    await wait_registered(processes, fleet.live)
    began = time.monotonic()
    queue = Queue()
    half = BYSTANDERS // 2
    first = await queue.enqueue_many("harness.chaos_jobs:work", [[str(run_dir), JOB_SECONDS]] * half)
    poison = await queue.enqueue("harness.chaos_jobs:crash", str(run_dir), max_retries=0)
    rest = await queue.enqueue_many("harness.chaos_jobs:work", [[str(run_dir), JOB_SECONDS]] * (BYSTANDERS - half))
    bystanders = {job.job_id for job in first + rest}
    everything = bystanders | {poison.job_id}

    records = await wait_all_ended(js, everything, fleet, timeout=scaled(90, 300), supervise=True)
    elapsed = time.monotonic() - began

    # No worker stays down: every slot's process registers again after the last crash.
    async def fleet_up() -> bool:
        fleet.supervise()
        return set(fleet.live) <= await live_worker_ids()

    await async_wait_for(fleet_up, timeout=30, interval=0.2, what="every worker slot up again")

    dlq = [entry for entry in await dead_letters("default") if entry.id in everything]
    runs = starts(executions(run_dir))
    bystanders_completed = {job_id for job_id in bystanders if records[job_id].status == "completed"}
    innocent = [entry for entry in dlq if entry.id != poison.job_id]
    shown = figures(
        enqueued=len(everything),
        completed=len(bystanders_completed),
        lost=len(everything - set(records)),
        dead_lettered=len(dlq),
        innocent_dead_lettered=len(innocent),
        poison_runs=runs[poison.job_id],
        worker_deaths=len(fleet.deaths),
        duplicate_runs=sum(n - 1 for job_id, n in runs.items() if job_id in bystanders),
        total_s=elapsed,
    )

    assert not innocent, "bystanders dead-lettered: " + "; ".join(f"{e.id}: {e.record.error}" for e in innocent)
    assert bystanders_completed == bystanders, {j: records[j].error for j in bystanders - bystanders_completed}
    [entry] = dlq
    assert entry.id == poison.job_id
    assert entry.record.error.type.endswith("WorkerLostError"), entry.record.error
    assert f"NAQ_MAX_CRASH_REDELIVERIES={limit}" in entry.record.error.message
    assert records[poison.job_id].status == "failed"
    assert 1 <= runs[poison.job_id] <= limit + 1, shown
    assert all(code == 1 for _, code in fleet.deaths), f"workers died with {fleet.deaths} (os._exit(1) expected)"
    assert len(fleet.deaths) == runs[poison.job_id], f"each worker death is one run of the poison: {shown}"
    assert all(process.poll() is None for process in fleet.live.values()), fleet.logs()
