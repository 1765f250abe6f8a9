"""Cluster node loss: kill -9 the node leading the job stream under load; nothing is lost.

A 3-node cluster (the ``nats_cluster`` fixture) with every stream and bucket at 3 replicas
(``NAQ_REPLICAS=3``). 2 ``naq-worker`` processes and the test's producer connect with all three
URLs. While the producer enqueues a job every 20 ms, the node that leads ``naq_jobs`` is killed
with SIGKILL. Proved: every enqueue that returned ends completed, none dead-lettered, the workers
and the producer go on through the other nodes (jobs enqueued and completed after the kill), and
the pause is the longest gap between two completions around the kill.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import Fleet, dead_letters, longest_gap, scaled, wait_all_ended, worker_args
from harness.chaos_jobs import executions, starts
from harness.jetstream_api import stream_info
from harness.processes import ProcessGroup
from harness.servers import NatsCluster
from harness.worker_processes import live_worker_ids, wait_registered
from naq.client import Queue
from naq.protocol import names

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.cluster]

PRODUCE_EVERY = 0.02
BEFORE_KILL = 4.0
AFTER_KILL = scaled(15.0, 60.0)
"""Longer than the 10 s a JetStream API request in flight at the kill may wait out (see the docs)."""
ENQUEUE_BOUND = 30.0


async def produce(
    queue: Queue, directory: str, until: asyncio.Event, ok: dict[str, float], failed: dict[str, str]
) -> None:
    """Enqueue a 20 ms job every :data:`PRODUCE_EVERY` s until ``until`` is set (bounded)."""
    began_at = time.time()
    for n in range(100_000):
        if until.is_set():
            return
        began = time.monotonic()
        job_id = f"c{n:05d}"
        try:
            enqueued = queue.enqueue("harness.chaos_jobs:work", directory, 0.02, job_id=job_id)
            await asyncio.wait_for(enqueued, ENQUEUE_BOUND)
            ok[job_id] = time.time()
        except Exception as exc:  # recorded: an error the caller saw is not a silent loss
            failed[job_id] = f"{time.time() - began_at:.2f}s {type(exc).__name__}: {exc}"
        await asyncio.sleep(max(0.0, PRODUCE_EVERY - (time.monotonic() - began)))
    raise AssertionError("the producer was never stopped")


@pytest.mark.timeout(scaled(150, 300))
async def test_kill_9_of_the_job_stream_leader_loses_nothing(
    nats_cluster: NatsCluster,
    chaos_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    processes: ProcessGroup,
    run_dir: Path,
    figures: Callable[..., dict[str, Any]],
) -> None:
    import nats

    urls = ",".join(nats_cluster.urls)
    env = {**chaos_env, "NAQ_NATS_URL": urls, "NAQ_REPLICAS": "3"}
    for key in ("NAQ_NATS_URL", "NAQ_REPLICAS"):
        monkeypatch.setenv(key, env[key])
    nc = await nats.connect(servers=nats_cluster.urls, connect_timeout=5, reconnect_time_wait=0.2)
    try:
        js = nc.jetstream()
        queue = Queue()
        # The first enqueue creates the streams and buckets, at 3 replicas.
        await queue.enqueue("harness.chaos_jobs:work", str(run_dir), job_id="warm-up")
        fleet = Fleet(processes, "naq-worker", worker_args(4), env, 2, "c")
        await wait_registered(processes, fleet.live, timeout=60)
        jobs_info = await stream_info(nc, names.JOBS_STREAM)
        results_info = await stream_info(nc, f"KV_{names.RESULTS_BUCKET}")
        assert jobs_info["config"]["num_replicas"] == 3
        assert results_info["config"]["num_replicas"] == 3
        leader_name = jobs_info["cluster"]["leader"]
        [leader] = [node for node in nats_cluster.nodes if node.name == leader_name]

        ok: dict[str, float] = {}
        failed: dict[str, str] = {}
        stop_producing = asyncio.Event()
        producer = asyncio.create_task(produce(queue, str(run_dir), stop_producing, ok, failed))
        await asyncio.sleep(BEFORE_KILL)  # load before the fault (a schedule)
        killed_at = time.time()
        await asyncio.to_thread(leader.kill)
        await asyncio.sleep(AFTER_KILL)
        stop_producing.set()
        await asyncio.wait_for(producer, ENQUEUE_BOUND + 5)
        stopped_at = time.time()

        records = await wait_all_ended(js, ok, fleet, timeout=60)
        new_leader = (await stream_info(nc, names.JOBS_STREAM))["cluster"]["leader"]
        registered = await live_worker_ids()
    finally:
        await nc.close()
    dlq = await dead_letters("default")

    runs = executions(run_dir)
    ends = [e.at for e in runs if e.event == "end" and e.job_id in ok]
    counts = starts(runs)
    completed = {job_id for job_id in ok if records[job_id].status == "completed"}
    shown = figures(
        enqueued=len(ok),
        enqueue_errors=len(failed),
        completed=len(completed),
        lost=len(set(ok) - set(records)),
        dead_lettered=len(dlq),
        duplicate_runs=sum(n - 1 for n in counts.values() if n > 1),
        killed=leader_name,
        new_leader=new_leader,
        pause_s=longest_gap(ends, start=killed_at - 1.0, end=stopped_at),
        enqueue_pause_s=longest_gap(ok.values(), start=killed_at - 1.0, end=stopped_at),
        enqueued_after_kill=sum(1 for t in ok.values() if t > killed_at),
        enqueue_errors_seen=" | ".join(sorted(set(failed.values()))[:4]),
    )

    assert completed == set(ok), {j: records[j].error for j in set(ok) - completed}
    assert not dlq, [(e.id, e.record.error) for e in dlq]
    assert new_leader != leader_name
    assert shown["enqueued_after_kill"] > 0, f"the producer stopped after the kill: {shown}"
    assert any(t > killed_at for t in ends), "no job completed after the kill"
    assert all(p.poll() is None for p in fleet.live.values()), fleet.logs()
    assert set(fleet.live) <= registered, f"workers missing from the registry: {set(fleet.live) - registered}"
