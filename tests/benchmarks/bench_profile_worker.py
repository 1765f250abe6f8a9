"""Profile naq's worker hot path: an in-process ``naq.worker.Worker`` under cProfile.

    python tests/benchmarks/bench_profile_worker.py [--jobs 10000] [--concurrency 50] [--top 40]

Starts its own nats-server, enqueues ``--jobs`` noop jobs first (not profiled), then runs a Worker
in this process under cProfile until every result is stored (one ``$KV.naq_results.>`` observer
subscription on a separate connection), stops it and prints the profile (cumulative and own time)
to stdout. The job rate without the profiler is printed too (a first, unprofiled pass), since
cProfile slows Python code down unevenly.

What-ifs (nothing in naq is changed; they only show what a part of the hot path costs):
``--function harness.jobs:async_add --args-json '[1, 2]'`` runs an async job (no thread-pool hop);
``--without-events`` replaces the worker's per-job event publishes with a no-op in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import nats  # noqa: E402

from harness.jetstream_api import delete_all_streams  # noqa: E402
from harness.servers import NatsServer  # noqa: E402
from naq.client import Queue, close  # noqa: E402
from naq.protocol import Settings, names  # noqa: E402
from naq.worker import Worker  # noqa: E402

NOOP = "harness.jobs:noop"

SECTIONS = (
    ("whole job task (RunningJobs.handle)", "_running.py", "handle"),
    ("decode the job (JobEnvelope.decode)", "_codec.py", "decode"),
    ("events (publish_event: encode + core publish)", "_events.py", "publish_event"),
    ("result write (JobStore.write_result: encode + publish_async + await ack)", "_store.py", "write_result"),
    ("run the function (run_call: thread pool hop, event-loop side)", "_executor.py", "run_call"),
    ("record encoding (Record.encode: results and events)", "_codec.py", "encode"),
    ("fetch loop (Fetcher.run)", "_fetching.py", "run"),
    ("nats-py reading the socket (Client._read_loop)", "client.py", "_read_loop"),
    ("nats-py writing the socket (Client._flusher)", "client.py", "_flusher"),
)
"""Functions whose cumulative time is shown per job (coroutine time counts only while it runs)."""


def print_sections(stats: pstats.Stats, jobs: int) -> None:
    """Cumulative time of the hot path's main sections, per job and as a share of the profile."""
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"hot path sections (profiled; total {total:.2f} s = {total / jobs * 1e6:.0f} us per job):")
    for label, filename, function in SECTIONS:
        cumulative = sum(
            row[3]
            for (path, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
            if name == function and path.endswith(filename)
        )
        print(f"  {cumulative / jobs * 1e6:7.1f} us/job  {cumulative / total:6.1%}  {label}")
    print()


async def one_pass(
    server: NatsServer,
    jobs: int,
    concurrency: int,
    profile: cProfile.Profile | None,
    function: str = NOOP,
    args: tuple = (),
) -> tuple[float, float]:
    """Enqueue ``jobs``, then time (and optionally profile) one worker draining them.

    Returns (jobs/s, CPU microseconds per job of this process: the worker and the small result
    observer). CPU per job is the steadier figure on a shared machine.
    """
    url = server.url
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        await delete_all_streams(nc, server)
        await close()
        settings = Settings.from_env({}, nats_url=url)
        await Queue("default", settings=settings).enqueue_many(function, [args] * jobs)
        await close()

        seen: set[str] = set()
        done = asyncio.get_running_loop().create_future()

        async def on_result(message: Any) -> None:
            if message.data:
                seen.add(message.subject)
                if len(seen) >= jobs and not done.done():
                    done.set_result(time.perf_counter())

        sub = await nc.subscribe(f"$KV.{names.RESULTS_BUCKET}.>", cb=on_result, pending_msgs_limit=-1)
        await nc.flush()
        worker = Worker("default", concurrency=concurrency, settings=settings, allowed_modules=["harness"])
        start = time.perf_counter()
        cpu_start = time.process_time()
        if profile is not None:
            profile.enable()
        task = asyncio.create_task(worker.run(install_signal_handlers=False))
        try:
            finished = await asyncio.wait_for(done, 300)
            cpu = time.process_time() - cpu_start
        finally:
            if profile is not None:
                profile.disable()
            worker.request_stop()
            await asyncio.wait_for(task, 60)
            await sub.unsubscribe()
            await close()
        return jobs / (finished - start), cpu / jobs * 1e6
    finally:
        await nc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--passes", type=int, default=1, help="unprofiled passes before the profiled one (medians)")
    parser.add_argument("--no-profile", action="store_true", help="only the unprofiled passes")
    parser.add_argument("--function", default=NOOP, help="job function (default harness.jobs:noop)")
    parser.add_argument("--args-json", default="[]", help="its positional arguments as a JSON list")
    parser.add_argument(
        "--without-events",
        action="store_true",
        help="what-if: no job events from the worker (patches publish_event in the worker's modules, in this process)",
    )
    args = parser.parse_args()
    if args.without_events:
        # Only for this what-if: every worker module that publishes job events.
        import naq.worker._completions as completions
        import naq.worker._delivery as delivery
        import naq.worker._outcomes as outcomes

        async def no_event(*_: Any, **__: Any) -> None:
            return None

        for module in (completions, delivery, outcomes):
            module.publish_event = no_event  # type: ignore[assignment]
    call = (args.function, tuple(json.loads(args.args_json)))
    with tempfile.TemporaryDirectory(prefix="naq-profile-") as tmp:
        server = NatsServer(Path(tmp) / "nats", name="naq-profile")
        try:
            server.start()
            server.wait_healthy()
            passes = [
                asyncio.run(one_pass(server, args.jobs, args.concurrency, None, *call)) for _ in range(args.passes)
            ]
            rates, cpus = sorted(rate for rate, _ in passes), sorted(cpu for _, cpu in passes)
            print(
                f"unprofiled: {statistics.median(rates):.0f} jobs/s, {statistics.median(cpus):.0f} us CPU/job "
                f"(median of {len(passes)}; worker startup included; rates {[round(r) for r in rates]})"
            )
            if args.no_profile:
                return 0
            profile = cProfile.Profile()
            rate, _ = asyncio.run(one_pass(server, args.jobs, args.concurrency, profile, *call))
            print(f"profiled: {rate:.0f} jobs/s")
        finally:
            server.stop()
    print_sections(pstats.Stats(profile), args.jobs)
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
