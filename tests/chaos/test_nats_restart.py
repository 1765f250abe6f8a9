"""NATS restart: the server is down 5 s and comes back on its store and port; nothing is lost.

A producer in the test enqueues a job every 50 ms while 2 ``naq-worker`` processes run them and a
``naq-scheduler`` fires a 1 s interval schedule; a ``job.result()`` wait is pending. The server is
stopped, left down 5 s, and started again on the same store directory and port. Proved: every
enqueue the producer saw succeed ends completed (the others raised an error, recorded, and may
have been stored anyway: never a success that is lost); the workers, the scheduler and the result
wait recover by themselves (no process restarted, no call repeated); the recovery time is the time
from the stop to the first job that went through the restarted server completing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import Fleet, dead_letters, scaled, wait_all_ended, worker_args
from harness.chaos_jobs import executions, starts
from harness.processes import ProcessGroup
from harness.servers import NatsServer
from harness.waiting import async_wait_for
from harness.worker_processes import live_worker_ids, wait_registered
from naq.client import Queue

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

OUTAGE = 5.0
PRODUCE_BEFORE = 3.0
PRODUCE_AFTER = scaled(6.0, 30.0)
PRODUCE_EVERY = 0.05
ENQUEUE_BOUND = 30.0
"""A single enqueue that takes longer than this is a hang (reported, not waited out)."""


@dataclass
class Produced:
    """What the producer saw: ids whose enqueue returned, and those that raised (with the error)."""

    ok: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    hung: list[str] = field(default_factory=list)
    took: list[float] = field(default_factory=list)
    """How long each enqueue took, seconds."""


async def produce(queue: Queue, directory: str, until: asyncio.Event, out: Produced, bound: int) -> None:
    """Enqueue a 50 ms job every :data:`PRODUCE_EVERY` s (one at a time) until ``until`` is set."""
    for n in range(bound):
        if until.is_set():
            return
        job_id = f"p{n:05d}"
        began = time.monotonic()
        try:
            enqueued = queue.enqueue("harness.chaos_jobs:work", directory, 0.05, job_id=job_id)
            await asyncio.wait_for(enqueued, ENQUEUE_BOUND)
            out.ok[job_id] = time.time()
        except TimeoutError:
            out.hung.append(job_id)
        except Exception as exc:  # every error the public API raises is a recorded, visible failure
            out.failed[job_id] = f"{type(exc).__name__}: {exc}"
        out.took.append(time.monotonic() - began)
        await asyncio.sleep(max(0.0, PRODUCE_EVERY - out.took[-1]))
    raise AssertionError(f"the producer ran {bound} enqueues without being stopped")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of this test alone, so it can be stopped and started again."""
    server = NatsServer(tmp_path / "nats", name="chaos-restart")
    try:
        server.start()
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(scaled(120, 300))
async def test_a_nats_restart_loses_nothing_and_every_component_recovers(
    own_server: NatsServer,
    chaos_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    processes: ProcessGroup,
    run_dir: Path,
    figures: Callable[..., dict[str, Any]],
) -> None:
    import nats

    env = {**chaos_env, "NAQ_NATS_URL": own_server.url}
    monkeypatch.setenv("NAQ_NATS_URL", own_server.url)
    queue = Queue()
    await queue.schedule("harness.chaos_jobs:work", str(run_dir), interval=1, schedule_id="tick")
    fleet = Fleet(processes, "naq-worker", worker_args(4), env, 2, "r")
    scheduler = processes.spawn("naq-scheduler", "--poll-interval", "0.25", env=env)
    await wait_registered(processes, fleet.live)
    await async_wait_for(
        lambda: any(e.job_id.startswith("tick-r") for e in executions(run_dir)), timeout=20, what="a scheduled run"
    )

    produced = Produced()
    stop_producing = asyncio.Event()
    producer = asyncio.create_task(
        produce(queue, str(run_dir), stop_producing, produced, int((PRODUCE_BEFORE + OUTAGE + PRODUCE_AFTER) * 100))
    )
    await asyncio.sleep(PRODUCE_BEFORE - 0.5)  # the producer's run-up before the fault (a schedule)
    # A job that is running when the server goes, and a result wait across the outage.
    across = await queue.enqueue("harness.chaos_jobs:work", str(run_dir), 3.0, job_id="across")
    waiting = asyncio.create_task(across.result(timeout=60))
    await asyncio.sleep(0.5)
    stopped, back = await asyncio.to_thread(own_server.restart, OUTAGE)
    await asyncio.sleep(PRODUCE_AFTER)
    stop_producing.set()
    await asyncio.wait_for(producer, ENQUEUE_BOUND + 5)
    assert await asyncio.wait_for(waiting, 60) == "across", "the result wait across the outage"

    nc = await nats.connect(own_server.url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()

        records = await wait_all_ended(js, produced.ok, fleet, timeout=60)
        dlq = await dead_letters("default")
        registered = await live_worker_ids()
    finally:
        await nc.close()

    runs = executions(run_dir)
    after = [e for e in runs if e.event == "start" and e.at > back]
    ended_after = {e.job_id: e.at for e in runs if e.event == "end" and e.job_id in {s.job_id for s in after}}
    recovery = min(ended_after.values()) - stopped if ended_after else float("inf")
    ticks_after = [e for e in after if e.job_id.startswith("tick-r")]
    completed = {job_id for job_id in produced.ok if records[job_id].status == "completed"}
    counts = starts(runs)
    shown = figures(
        enqueued=len(produced.ok),
        enqueue_errors=len(produced.failed),
        enqueue_hangs=len(produced.hung),
        failed_enqueues_stored_anyway=sum(1 for job_id in produced.failed if job_id in records),
        completed=len(completed),
        lost=len(set(produced.ok) - set(records)),
        dead_lettered=len(dlq),
        duplicate_runs=sum(n - 1 for n in counts.values() if n > 1),
        outage_s=back - stopped,
        recovery_s=recovery,
        first_enqueue_after_s=min((t for t in produced.ok.values() if t > back), default=float("inf")) - stopped,
        scheduled_runs_after=len(ticks_after),
        scheduler_recovery_s=min((e.at for e in ticks_after), default=float("inf")) - back,
        longest_enqueue_s=max(produced.took, default=0.0),
        enqueue_error=next(iter(produced.failed.values()), ""),
    )

    assert not produced.hung, f"enqueues that neither returned nor raised within {ENQUEUE_BOUND} s: {produced.hung}"
    assert completed == set(produced.ok), {j: records[j].error for j in set(produced.ok) - completed}
    assert not dlq, [(e.id, e.record.error) for e in dlq]
    assert any(t > back for t in produced.ok.values()), f"no enqueue succeeded after the restart: {shown}"
    # A request in flight when the connection dropped is not failed by nats-py on the disconnect:
    # it waits out its timeout (10 s at most in naq), and the fire loop waits for it. So: firing
    # again within that 10 s after the server is back, plus one interval (1 s) and a poll.
    assert shown["scheduler_recovery_s"] <= 10 + 1 + 0.25 + 1, f"the scheduler did not recover in time: {shown}"
    assert recovery < OUTAGE + 20, shown
    assert scheduler.poll() is None, processes.output(scheduler)[-3000:]
    assert all(p.poll() is None for p in fleet.live.values()), fleet.logs()
    assert set(fleet.live) <= registered, f"workers not registered after the restart: {set(fleet.live) - registered}"
