"""Latency of dependency releases and cancellation, beside raw nats-py delivery latency (same run).

    hatch run bench:deps [--runs 3] [--chain 100] [--pairs 50] [--cancels 20]

Starts its own nats-server and one ``naq-worker`` subprocess (concurrency 10), and prints one JSON
line per measurement, then a summary line per benchmark with the medians over runs:

- ``release``: a chain of ``--chain`` jobs, each depending on the previous; per link, the time from
  the parent's ``finished_at`` to the dependent's ``started_at`` (both from their result records,
  written by the same worker process, so one clock). Target: p50 under 100 ms.
- ``dependency_failed``: ``--pairs`` pairs of a failing job and its dependent; the time from the
  parent's ``finished_at`` to the dependent's failed result (``DependencyFailedError``). Target: under 1 s.
- ``cancel_running``: ``--cancels`` async jobs that sleep 60 s; each is cancelled once it runs,
  timed from the ``cancel_job`` call until its cancelled result is seen. Target: under 1 s.
- ``raw_delivery``: the baseline, raw nats-py: one ``js.publish`` to a work-queue stream until a
  pull consumer waiting in ``fetch`` receives it (one hop of what a release is made of).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
for path in (TESTS_DIR, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import nats  # noqa: E402
import nats.errors  # noqa: E402
from run import Processes, below_target, emit, latency_summary, note, rounded, running, runs_on_a_server  # noqa: E402

from harness.jetstream_api import delete_all_streams  # noqa: E402
from harness.processes import console_script  # noqa: E402
from harness.servers import NatsServer  # noqa: E402
from naq.client import Queue, cancel_job, close  # noqa: E402
from naq.client._connection import get_connection  # noqa: E402
from naq.client._results import wait_for_result_record  # noqa: E402
from naq.protocol import ResultRecord, Settings  # noqa: E402

CONCURRENCY = 10
TARGETS = {"release": ("p50_ms", 100.0), "dependency_failed": ("p50_ms", 1000.0), "cancel_running": ("p50_ms", 1000.0)}


async def result_of(settings: Settings, job_id: str, timeout: float = 30.0) -> ResultRecord:
    return await wait_for_result_record(await get_connection(settings), job_id, timeout)


async def bench_release(queue: Queue, links: int) -> dict[str, Any]:
    jobs = [await queue.enqueue("harness.jobs:noop")]
    for _ in range(links - 1):
        jobs.append(await queue.enqueue("harness.jobs:noop", depends_on=jobs[-1]))
    records = [await result_of(queue.settings, job.job_id) for job in jobs]
    gaps = [
        child.started_at - parent.finished_at
        for parent, child in itertools.pairwise(records)
        if child.started_at is not None
    ]
    return latency_summary(gaps)


async def bench_dependency_failed(queue: Queue, pairs: int) -> dict[str, Any]:
    samples = []
    for _ in range(pairs):
        parent = await queue.enqueue("harness.jobs:fail_now")
        child = await queue.enqueue("harness.jobs:noop", depends_on=parent)
        parent_record = await result_of(queue.settings, parent.job_id)
        child_record = await result_of(queue.settings, child.job_id)
        if child_record.status != "failed":
            raise RuntimeError(f"dependent {child.job_id} ended {child_record.status}, not failed")
        samples.append(child_record.finished_at - parent_record.finished_at)
    return latency_summary(samples)


async def bench_cancel_running(queue: Queue, cancels: int, nc: Any) -> dict[str, Any]:
    samples = []
    connection = await get_connection(queue.settings)
    for _ in range(cancels):
        started = asyncio.get_running_loop().create_future()

        async def on_started(message: Any, future: asyncio.Future[None] = started) -> None:
            if not future.done():
                future.set_result(None)

        job = await queue.enqueue("harness.jobs:async_sleep", 60.0)
        subscription = await nc.subscribe("naq.events.default.started", cb=on_started)
        try:
            # The worker announces a job still running after 0.25 s.
            await asyncio.wait_for(started, 10)
        finally:
            await subscription.unsubscribe()
        begin = time.perf_counter()
        if not await cancel_job(job.job_id, nats_url=list(queue.settings.nats_url)):
            raise RuntimeError(f"cancel_job({job.job_id}) returned False for a running job")
        record = await wait_for_result_record(connection, job.job_id, 10)
        samples.append(time.perf_counter() - begin)
        if record.status != "cancelled":
            raise RuntimeError(f"cancelled job {job.job_id} ended {record.status}")
    return latency_summary(samples)


async def bench_raw_delivery(nc: Any, samples: int) -> dict[str, Any]:
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(name="raw_release", subjects=["raw.release"], retention=RetentionPolicy.WORK_QUEUE)
    )
    await js.add_consumer(
        "raw_release", ConsumerConfig(durable_name="raw", ack_policy=AckPolicy.EXPLICIT, filter_subject="raw.release")
    )
    subscription = await js.pull_subscribe_bind("raw", stream="raw_release")
    out = []
    for n in range(samples):
        fetch = asyncio.ensure_future(subscription.fetch(1, timeout=5))
        for _ in range(3):  # let the fetch send its request, then make sure the server has it,
            await asyncio.sleep(0)  # as a worker's fetch is waiting when a release arrives
        await nc.flush()
        begin = time.perf_counter()
        await js.publish("raw.release", b"x" * 300, headers={"Nats-Msg-Id": f"raw-{n}-{time.time_ns()}"})
        [message] = await fetch
        out.append(time.perf_counter() - begin)
        await message.ack()
    return latency_summary(out)


async def one_run(args: argparse.Namespace, server: NatsServer, processes: Processes, workdir: Path, run: int) -> dict:
    nc = await nats.connect(server.url, connect_timeout=5, max_reconnect_attempts=0)
    out: dict[str, dict[str, Any]] = {}
    try:
        await delete_all_streams(nc, server)
        await close()
        settings = Settings.from_env({}, nats_url=server.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
        env.update(settings.as_env())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
        command = [console_script("naq-worker"), "default", "--concurrency", str(CONCURRENCY)]
        command += ["--allow-module", "harness"]
        queue = Queue("default", settings=settings)
        with running(processes, "naq-worker", command, env):
            await result_of(settings, (await queue.enqueue("harness.jobs:noop")).job_id)  # warm up
            note(f"run {run}: release chain of {args.chain}")
            out["release"] = await bench_release(queue, args.chain)
            note(f"run {run}: {args.pairs} failed dependencies")
            out["dependency_failed"] = await bench_dependency_failed(queue, args.pairs)
            note(f"run {run}: {args.cancels} cancels of running jobs")
            out["cancel_running"] = await bench_cancel_running(queue, args.cancels, nc)
        note(f"run {run}: raw delivery baseline")
        out["raw_delivery"] = await bench_raw_delivery(nc, args.chain)
    finally:
        await close()
        await nc.close()
    for benchmark, values in out.items():
        emit(benchmark=benchmark, run=run, **values)
    return out


async def bench_main(args: argparse.Namespace, workdir: Path) -> None:
    def this_run(server: NatsServer, processes: Processes, run: int) -> Awaitable[dict[str, Any]]:
        return one_run(args, server, processes, workdir, run)

    runs = await runs_on_a_server(workdir, "naq-bench-deps", args.runs, this_run)
    raw_p50 = statistics.median(r["raw_delivery"]["p50_ms"] for r in runs)
    for benchmark in ("release", "dependency_failed", "cancel_running", "raw_delivery"):
        p50 = statistics.median(r[benchmark]["p50_ms"] for r in runs)
        summary: dict[str, Any] = {
            "benchmark": benchmark,
            "impl": "summary",
            "runs": len(runs),
            "p50_ms_median": rounded(p50),
            "p99_ms_median": rounded(statistics.median(r[benchmark]["p99_ms"] for r in runs)),
            "p50_ratio_over_raw_delivery": rounded(p50 / raw_p50),
            **below_target(TARGETS, benchmark, p50),
        }
        emit(**summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chain", type=int, default=100, help="jobs in the release chain (default 100)")
    parser.add_argument("--pairs", type=int, default=50, help="failing parent + dependent pairs (default 50)")
    parser.add_argument("--cancels", type=int, default=20, help="running jobs to cancel (default 20)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="naq-bench-deps-") as tmp:
        asyncio.run(bench_main(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
