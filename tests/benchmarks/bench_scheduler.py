"""The scheduler with many schedules: idle CPU and how late runs fire, beside raw nats-py (same run).

    hatch run bench:scheduler [--runs 3] [--schedules 100000] [--probes 500] [--idle 10]

Starts its own nats-server and, per run, one ``naq-scheduler`` subprocess with the production
clocks (poll 1 s, lock TTL 10 s, renewal 3 s), and prints one JSON line per measurement, then a
summary line per benchmark with the medians over runs:

- ``load``: seconds from the scheduler's start until it has read every schedule (its log line).
- ``idle_cpu``: share of one core the scheduler uses over ``--idle`` seconds while ``--schedules``
  schedules exist and none is due (from ``/proc/<pid>/stat``), and its resident memory. Target:
  under 5 %.
- ``fire_lateness``: ``--probes`` one-off schedules due over the next seconds, among all the
  others; per run, the time from its due time to the ``enqueued_at`` the scheduler stamps on it
  when it publishes (read back from ``naq_jobs``; nothing consumes it). Target: p99 under 1 s.
- ``raw_publish``: the baseline, raw nats-py: one ``js.publish`` with a message id to a
  work-queue stream until its ack (the last hop of a fired run).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
for path in (TESTS_DIR, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import nats  # noqa: E402
import nats.js.errors  # noqa: E402
from run import Processes, below_target, emit, latency_summary, note, rounded, running, runs_on_a_server  # noqa: E402

from harness.jetstream_api import delete_all_streams  # noqa: E402
from harness.processes import console_script  # noqa: E402
from harness.servers import NatsServer  # noqa: E402
from harness.waiting import async_wait_for  # noqa: E402
from naq.client import Settings  # noqa: E402
from naq.client._connection import open_connection  # noqa: E402
from naq.client._options import JobOptions, build_envelope  # noqa: E402
from naq.client._schedule_store import schedules_kv  # noqa: E402
from naq.protocol import JobEnvelope, ScheduleRecord  # noqa: E402
from naq.protocol.subjects import kv_key_subject  # noqa: E402

WINDOW = 1000
"""KV writes in flight at once while creating the schedules."""

PROBE_LEAD = 5.0
"""Seconds after the idle window before the first probe is due."""

PROBE_SPREAD = 5.0
"""Seconds over which the probes fall due."""

TARGETS = {"idle_cpu": ("cpu_percent", 5.0), "fire_lateness": ("p99_ms", 1000.0)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def record(schedule_id: str, due: float, template: JobEnvelope, one_off: bool) -> bytes:
    """A schedule record: a one-off probe due at ``due``, or an hourly schedule first due then."""
    job = dataclasses.replace(template, job_id=schedule_id)
    interval = None if one_off else 3600.0
    return ScheduleRecord(
        schedule_id=schedule_id, job=job, next_run_at=due, created_at=time.time(), interval=interval
    ).encode()


async def create_schedules(settings: Settings, ids_and_dues: list[tuple[str, float, bool]]) -> None:
    """Write the records straight into ``naq_scheduled_jobs``, pipelined in windows."""
    connection = await open_connection(settings)
    try:
        await schedules_kv(connection)
        template = build_envelope("harness.jobs:noop", (), {}, JobOptions(job_id="template"), "default", settings)
        for start in range(0, len(ids_and_dues), WINDOW):
            window = ids_and_dues[start : start + WINDOW]
            await asyncio.gather(
                *(
                    connection.js.publish(
                        kv_key_subject("naq_scheduled_jobs", sid), record(sid, due, template, one_off)
                    )
                    for sid, due, one_off in window
                )
            )
    finally:
        await connection.nc.close()


async def probe_lateness(nc: Any, probes: dict[str, float], timeout: float) -> list[float]:
    """Seconds from each probe's due time to the ``enqueued_at`` of its published run."""
    js = nc.jetstream()
    late: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    sequence = 0
    for _ in range(len(probes) * 100):
        if len(late) == len(probes) or time.monotonic() > deadline:
            break
        try:
            message = await js.get_msg("naq_jobs", seq=sequence + 1, subject="naq.queue.default", next=True)
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.2)
            continue
        sequence = message.seq
        job = JobEnvelope.decode(message.data or b"")
        if job.job_id in probes:
            late[job.job_id] = job.enqueued_at - probes[job.job_id]
    if len(late) != len(probes):
        raise RuntimeError(f"only {len(late)} of {len(probes)} probes fired within {timeout} s")
    return list(late.values())


async def bench_raw_publish(nc: Any, samples: int) -> list[float]:
    """Raw nats-py: publish with a message id to a work-queue stream, until the ack."""
    js = nc.jetstream()
    await js.add_stream(name="raw_bench", subjects=["raw.bench"], retention="workqueue")
    out = []
    for i in range(samples):
        begin = time.perf_counter()
        await js.publish("raw.bench", b"x" * 200, headers={"Nats-Msg-Id": f"raw-{i}"})
        out.append(time.perf_counter() - begin)
    await js.delete_stream("raw_bench")
    return out


async def one_run(args: argparse.Namespace, server: NatsServer, processes: Processes, run: int) -> dict[str, Any]:
    nc = await nats.connect(server.url, connect_timeout=5, max_reconnect_attempts=0)
    out: dict[str, dict[str, Any]] = {}
    try:
        await delete_all_streams(nc, server)
        settings = Settings.from_env({}, nats_url=server.url)
        load_started = time.time()
        busy_until = load_started + 3600
        background = [(f"bg-{i}", busy_until + i % 3600, False) for i in range(args.schedules)]
        note(f"run {run}: writing {args.schedules} schedules")
        await create_schedules(settings, background)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
        env.update(settings.as_env())
        env["NAQ_LOG_LEVEL"] = "INFO"
        command = [console_script("naq-scheduler"), "--instance-id", f"bench-{run}"]
        with running(processes, "naq-scheduler", command, env) as (process, log_path):
            started = time.monotonic()

            def loaded() -> re.Match[str] | None:
                return re.search(r"started with (\d+) schedule", log_path.read_text(errors="replace"))

            match = await async_wait_for(loaded, timeout=600, interval=0.2, what="scheduler loaded")
            out["load"] = {"schedules": int(match.group(1)), "seconds": rounded(time.monotonic() - started)}
            note(f"run {run}: idle for {args.idle} s")
            cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
            await asyncio.sleep(args.idle)  # the measurement window itself, not a synchronisation
            cpu = cpu_seconds(process.pid) - cpu_before
            out["idle_cpu"] = {
                "cpu_percent": rounded(100 * cpu / (time.monotonic() - wall_before)),
                "rss_mib": rounded(rss_mb(process.pid)),
            }
            first_due = time.time() + PROBE_LEAD
            probes = {f"probe-{run}-{i}": first_due + PROBE_SPREAD * i / args.probes for i in range(args.probes)}
            await create_schedules(settings, [(sid, due, True) for sid, due in probes.items()])
            note(f"run {run}: {args.probes} probes due over {PROBE_SPREAD} s")
            late = await probe_lateness(nc, probes, timeout=PROBE_LEAD + PROBE_SPREAD + 60)
            out["fire_lateness"] = latency_summary(late)
        out["raw_publish"] = latency_summary(await bench_raw_publish(nc, args.probes))
    finally:
        await nc.close()
    for benchmark, values in out.items():
        emit(benchmark=benchmark, run=run, **values)
    return out


async def bench_main(args: argparse.Namespace, workdir: Path) -> None:
    runs = await runs_on_a_server(
        workdir, "naq-bench-scheduler", args.runs, lambda server, processes, run: one_run(args, server, processes, run)
    )
    raw_p50 = statistics.median(r["raw_publish"]["p50_ms"] for r in runs)
    emit(
        benchmark="load",
        impl="summary",
        runs=len(runs),
        schedules=args.schedules,
        seconds_median=rounded(statistics.median(r["load"]["seconds"] for r in runs)),
    )
    cpu = statistics.median(r["idle_cpu"]["cpu_percent"] for r in runs)
    target = below_target(TARGETS, "idle_cpu", cpu)
    emit(benchmark="idle_cpu", impl="summary", runs=len(runs), cpu_percent_median=cpu, **target)
    for benchmark in ("fire_lateness", "raw_publish"):
        p99 = statistics.median(r[benchmark]["p99_ms"] for r in runs)
        summary: dict[str, Any] = {
            "benchmark": benchmark,
            "impl": "summary",
            "runs": len(runs),
            "p50_ms_median": rounded(statistics.median(r[benchmark]["p50_ms"] for r in runs)),
            "p99_ms_median": rounded(p99),
            "p50_ratio_over_raw_publish": rounded(statistics.median(r[benchmark]["p50_ms"] for r in runs) / raw_p50),
            **below_target(TARGETS, benchmark, p99),
        }
        emit(**summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--schedules", type=int, default=100_000, help="idle schedules (default 100000)")
    parser.add_argument("--probes", type=int, default=500, help="one-off schedules whose lateness is measured")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of the idle CPU window (default 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="naq-bench-scheduler-") as tmp:
        asyncio.run(bench_main(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
