"""The monitor under load: how fast a key press shows on the real ``naq-tui``, and its CPU.

    hatch run bench:tui [--seconds 30] [--presses 100] [--rate 2000] [--schedules 1000] [--failed 1000]

Starts an embedded nats-server (:class:`naq.client.server.EmbeddedServer`), then the load of
issue 12: ``--schedules`` schedules (daily cron or interval: none is due, and no scheduler runs),
``--failed`` jobs failed for good in the dead-letter queue (``harness.jobs:fail_now`` with
``max_retries=0``, run by the worker), and jobs flowing at ``--rate`` per second (a producer
subprocess of this script pacing ``enqueue_many`` batches; ``--workers`` ``naq-worker``
subprocesses running them). Then the ``naq-tui`` console script of this environment starts on a
120 x 40 pseudo-terminal whose output this script feeds into a pyte screen, and:

- ``idle_cpu``: the monitor's CPU (utime + stime from ``/proc/<pid>/stat``) over ``--seconds``
  while jobs flow and nothing is pressed, as % of one core: on the overview (the target: under
  25 %), then again on the schedules screen (its table holds every schedule). The CPU of the
  server, the workers, the producer and this script over the same window beside it.
- ``key_latency``: ``--presses`` presses alternating ``s`` (the schedules screen: its "Schedules"
  pane title appears) and ``--back-key`` (escape by default; the overview's "Queues" pane title
  appears), each timed from the write to the pseudo-terminal to the first read after which the
  pyte screen shows the change; p50/p95/max in ms, per key and together. Target: p95 under
  100 ms. The monitor's CPU over the presses is reported too.

A lone escape byte is ambiguous on a terminal (it starts every escape sequence), so Textual takes
it for the escape key only after ``ESCDELAY`` (100 ms) with nothing following, and notices that on
its input thread's next 0.1 s select timeout: escape presses carry about 100-200 ms that the
monitor does not spend. ``--back-key o`` (the same binding) measures the way back without it.

One JSON line per measurement on stdout, progress and a summary on stderr. Exit 0 whatever the
figures (a benchmark, not a test); 1 if the setup fails. Every process it starts is stopped at the
end, on error too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
for path in (TESTS_DIR, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from run import Processes, below_target, cpu_seconds, emit, note, percentile, rounded, tail  # noqa: E402

import naq.client  # noqa: E402
from harness.processes import console_script  # noqa: E402
from harness.terminal import Terminal  # noqa: E402
from naq.client import Queue, Settings  # noqa: E402
from naq.client.server import EmbeddedServer  # noqa: E402

FLOW_QUEUE = "bench"
FAILING_QUEUE = "failing"
SCHEDULE_QUEUE = "nightly"
NOOP = "harness.jobs:noop"
FAIL = "harness.jobs:fail_now"
COLUMNS, LINES = 120, 40
TARGETS = {"key_latency": ("p95_ms", 100.0), "idle_cpu": ("cpu_percent", 25.0)}
BACK_KEYS = {"escape": b"\x1b", "o": b"o"}
SETUP_DEADLINE = 180.0
"""Seconds each setup step (schedules, dead-letter queue, first screen) may take."""
PRESS_DEADLINE = 5.0
"""Seconds one key press may take to show; a slower one is counted as missed, at this figure."""
PRODUCER_TICK = 0.05
"""Seconds between two producer batches."""


REPORTED: list[dict[str, Any]] = []
"""Every measurement line emitted, for the summary."""


def report(**fields: Any) -> None:
    """Emit one measurement line (JSON on stdout) and keep it for :func:`summary`."""
    emit(**fields)
    REPORTED.append(fields)


class SetupError(RuntimeError):
    """The load or the monitor could not be set up: the benchmark has nothing to measure."""


# --- the producer (a subprocess of this script) -----------------------------------------------


async def produce(nats_url: str, rate: float) -> None:
    """Enqueue noop jobs on :data:`FLOW_QUEUE` at ``rate`` per second until terminated, in
    ``enqueue_many`` batches every :data:`PRODUCER_TICK` s; a JSON line with the total each second."""
    queue = Queue(FLOW_QUEUE, nats_url)
    started = time.monotonic()
    sent, tick, next_report = 0, 0, started + 1.0
    max_batch = max(1, int(rate * 0.5))  # after a stall, catch up over a few batches, not at once
    while True:  # until SIGTERM
        tick += 1
        due = min(int(rate * (time.monotonic() - started)) - sent, max_batch)
        if due > 0:
            await queue.enqueue_many(NOOP, [()] * due)
            sent += due
        now = time.monotonic()
        if now >= next_report:
            print(json.dumps({"seconds": now - started, "enqueued": sent}), flush=True)
            next_report += 1.0
        await asyncio.sleep(max(0.0, started + tick * PRODUCER_TICK - now))


def produced(log: Path) -> tuple[float, int] | None:
    """The producer's last report: (seconds since it started, jobs enqueued)."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        try:
            fields = json.loads(line)
            return fields["seconds"], fields["enqueued"]
        except (ValueError, KeyError, TypeError):
            continue
    return None


# --- the load ---------------------------------------------------------------------------------


async def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Await ``check()`` (sync or async) until truthy; :class:`SetupError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / interval) + 2):
        result = check()
        last = await result if asyncio.iscoroutine(result) else result
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    raise SetupError(f"{what}: not within {timeout} s (last: {last!r})")


async def create_schedules(url: str, count: int) -> None:
    """``count`` schedules, half daily crons and half daily intervals: none falls due here."""
    queue = Queue(SCHEDULE_QUEUE, url)
    for start in range(0, count, 100):
        await asyncio.gather(
            *(
                queue.schedule(NOOP, cron="0 3 * * *", schedule_id=f"nightly-{i:05d}")
                if i % 2
                else queue.schedule(NOOP, interval=86_400, schedule_id=f"daily-{i:05d}")
                for i in range(start, min(start + 100, count))
            )
        )


async def failed_count(url: str) -> int:
    """Entries in the dead-letter queue of :data:`FAILING_QUEUE`."""
    return sum([1 async for _ in naq.client.failed_jobs(FAILING_QUEUE, url)])


async def backlog(url: str) -> int:
    """Jobs of :data:`FLOW_QUEUE` not yet done (pending and in flight)."""
    stats = await naq.client.queue_stats(FLOW_QUEUE, url)
    return stats.pending + stats.in_flight


class Flow:
    """The flowing jobs over a window: enqueued per s (the producer's count) and completed per s
    (enqueued minus the backlog's growth)."""

    def __init__(self, url: str, producer_log: Path) -> None:
        self.url = url
        self.producer_log = producer_log
        self.start: tuple[float, int, int] = (0.0, 0, 0)

    async def _sample(self) -> tuple[float, int, int]:
        report = produced(self.producer_log)
        if report is None:
            raise SetupError("the producer has not reported yet")
        return report[0], report[1], await backlog(self.url)

    async def begin(self) -> None:
        """Start a window."""
        self.start = await self._sample()

    async def end(self) -> dict[str, Any]:
        """The window's rates, and the backlog at its end."""
        (t0, sent0, backlog0), (t1, sent1, backlog1) = self.start, await self._sample()
        seconds = max(t1 - t0, 1e-9)
        return {
            "enqueued_per_s": round((sent1 - sent0) / seconds),
            "completed_per_s": round((sent1 - sent0 - (backlog1 - backlog0)) / seconds),
            "backlog": backlog1,
        }


# --- the monitor ------------------------------------------------------------------------------


def titles(screen: str) -> set[str]:
    """The first word of every row inside a pane's border: the open screen's pane titles among them."""
    rows = (line.strip("│ ") for line in screen.splitlines())
    return {row.split()[0] for row in rows if row and row[0] not in "╭╰"}


def on_schedules(screen: str) -> bool:
    return "Schedules" in titles(screen)


def on_overview(screen: str) -> bool:
    found = titles(screen)
    return "Queues" in found and "Schedules" not in found


class CpuWindow:
    """One process's CPU between :meth:`begin` and :meth:`end`, as % of one core."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = (0.0, 0.0)

    def begin(self) -> None:
        self.start = (time.monotonic(), cpu_seconds(self.pid) or 0.0)

    def end(self) -> float:
        wall, cpu = time.monotonic() - self.start[0], (cpu_seconds(self.pid) or 0.0) - self.start[1]
        return rounded(100 * cpu / max(wall, 1e-9))


def press_keys(term: Terminal, presses: int, back: str, gap: float) -> tuple[dict[str, list[float]], list[float]]:
    """Alternate ``s`` and ``back`` ``presses`` times from the overview; each press's seconds
    until the screen shows it, by key (a missed press counts as :data:`PRESS_DEADLINE`), and the
    seconds of each that went to the emulator (pyte) in this process."""
    samples: dict[str, list[float]] = {"s": [], back: []}
    emulator: list[float] = []
    for _ in range(presses):
        forward = on_overview(term.text())
        key, data, shown = ("s", b"s", on_schedules) if forward else (back, BACK_KEYS[back], on_overview)
        fed = term.feed_seconds
        term.send(data)
        try:
            samples[key].append(term.wait_for(shown, PRESS_DEADLINE, f"press of {key}"))
        except TimeoutError:
            note(f"a press of {key} did not show within {PRESS_DEADLINE} s")
            samples[key].append(PRESS_DEADLINE)
        emulator.append(term.feed_seconds - fed)
        # A pause between presses, as a person leaves; the monitor finishes drawing meanwhile.
        term.drain(gap)
    return samples, emulator


def latency(samples_s: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples_s]
    if not ms:
        return {"samples": 0}
    return {
        "samples": len(ms),
        "p50_ms": rounded(percentile(ms, 0.50)),
        "p95_ms": rounded(percentile(ms, 0.95)),
        "max_ms": rounded(max(ms)),
        "missed": sum(1 for s in samples_s if s >= PRESS_DEADLINE),
    }


# --- the run ----------------------------------------------------------------------------------


def subprocess_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env.update(Settings.from_env({}, nats_url=url).as_env())
    env["NAQ_LOG_LEVEL"] = "WARNING"  # 1,000 failures are logged; nothing per successful job
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return env


async def set_up(args: argparse.Namespace, url: str, processes: Processes) -> tuple[Path, list[int]]:
    """Schedules, the dead-letter queue, workers and the producer; the producer's log and the
    pids of the load's processes."""
    env = subprocess_env(url)
    started = time.monotonic()
    await create_schedules(url, args.schedules)
    note(f"{args.schedules} schedules in {time.monotonic() - started:.1f} s")
    workers = []
    for n in range(args.workers):
        command = [console_script("naq-worker"), FLOW_QUEUE, FAILING_QUEUE, "--name", f"bench-{n}"]
        command += ["--concurrency", str(args.concurrency), "--allow-module", "harness"]
        workers.append(processes.spawn(f"worker-{n}", command, env))
    expected = {f"bench-{n}" for n in range(args.workers)}
    await wait_until(lambda: _registered(url, expected, workers), SETUP_DEADLINE, "workers registered", interval=0.2)
    started = time.monotonic()
    await naq.client.enqueue_many(FAIL, [()] * args.failed, queue_name=FAILING_QUEUE, nats_url=url, max_retries=0)
    await wait_until(lambda: _at_least(failed_count(url), args.failed), SETUP_DEADLINE, "dead-letter queue filled")
    note(f"{args.failed} failed jobs in the dead-letter queue in {time.monotonic() - started:.1f} s")
    command = [sys.executable, __file__, "--produce", url, "--rate", str(args.rate)]
    producer, producer_log = processes.spawn("producer", command, env)
    await wait_until(lambda: produced(producer_log) is not None, 30, "producer's first report", interval=0.2)
    return producer_log, [producer.pid, *(p.pid for p, _ in workers)]


async def _registered(url: str, expected: set[str], workers: list[tuple[Any, Path]]) -> bool:
    for process, log in workers:
        if process.poll() is not None:
            raise SetupError(f"a worker exited with {process.returncode}:\n{tail(log)}")
    return expected <= {w.worker_id for w in await naq.client.list_workers(url)}


async def _at_least(count: Any, expected: int) -> bool:
    return await count >= expected


async def idle_window(term: Terminal, screen: str, seconds: float, flow: Flow, load_pids: dict[str, int]) -> None:
    """The monitor's CPU over ``seconds`` with ``screen`` open and nothing pressed (and the load's)."""
    monitor = CpuWindow(term.pid)
    others = {name: CpuWindow(pid) for name, pid in load_pids.items()}
    for window in (monitor, *others.values()):
        window.begin()
    bench_cpu = time.process_time()
    await flow.begin()
    await asyncio.to_thread(term.drain, seconds)
    idle_cpu = monitor.end()
    report(
        benchmark="idle_cpu",
        screen=screen,
        seconds=seconds,
        cpu_percent=idle_cpu,
        **await flow.end(),
        other_cpu_percent={name: window.end() for name, window in others.items()},
        bench_process_cpu_percent=rounded(100 * (time.process_time() - bench_cpu) / seconds),
        **below_target(TARGETS, "idle_cpu", idle_cpu),
    )


async def key_window(term: Terminal, args: argparse.Namespace, flow: Flow) -> None:
    """Time ``args.presses`` presses from the overview; the monitor's CPU over them."""
    note(f"{args.presses} presses: s and {args.back_key}, {args.gap} s apart")
    monitor = CpuWindow(term.pid)
    monitor.begin()
    await flow.begin()
    samples, emulator = await asyncio.to_thread(press_keys, term, args.presses, args.back_key, args.gap)
    press_cpu = monitor.end()
    overall = latency([s for values in samples.values() for s in values])
    report(
        benchmark="key_latency",
        **overall,
        by_key={key: latency(values) for key, values in samples.items()},
        # Of each press's latency, what this script's terminal emulator took to read the output.
        emulator_p50_ms=rounded(1000 * percentile(emulator, 0.5)) if emulator else None,
        emulator_max_ms=rounded(1000 * max(emulator)) if emulator else None,
        monitor_cpu_percent=press_cpu,
        gap_s=args.gap,
        **await flow.end(),
        **below_target(TARGETS, "key_latency", overall.get("p95_ms", float("inf"))),
    )


async def measure(args: argparse.Namespace, url: str, flow: Flow, load_pids: dict[str, int]) -> None:
    """Start the monitor on a pseudo-terminal, measure it idle (overview, schedules), then pressing."""
    env = {**subprocess_env(url), "NAQ_LOG_LEVEL": "INFO"}
    command = [str(Path(sys.executable).parent / "naq-tui"), "--nats-url", url]
    with Terminal(command, env, columns=COLUMNS, lines=LINES) as term:
        try:
            await asyncio.to_thread(
                term.wait_for,
                lambda s: on_overview(s) and "bench-0" in s and FLOW_QUEUE in s,
                SETUP_DEADLINE,
                "overview with the worker and the queue",
            )
        except TimeoutError as exc:
            raise SetupError(str(exc)) from None
        note("monitor up; 3 s to settle (watches filled), then the idle windows")
        await asyncio.to_thread(term.drain, 3.0)
        await idle_window(term, "overview", args.seconds, flow, load_pids)
        # The same on the schedules screen, whose table holds every schedule.
        term.send(b"s")
        await asyncio.to_thread(term.wait_for, on_schedules, PRESS_DEADLINE * 4, "the schedules screen")
        await asyncio.to_thread(term.drain, 2.0)
        await idle_window(term, "schedules", args.seconds, flow, load_pids)
        term.send(BACK_KEYS[args.back_key])
        await asyncio.to_thread(term.wait_for, on_overview, PRESS_DEADLINE * 4, "the overview")
        await asyncio.to_thread(term.drain, 2.0)

        await key_window(term, args, flow)
        term.send(b"q")
        try:
            code = await asyncio.to_thread(term.wait_exit, 10.0)
        except Exception as exc:  # the figures stand; how it ended is reported
            note(f"the monitor did not quit on q: {exc}")
        else:
            note(f"the monitor quit on q with exit code {code}")


async def bench_main(args: argparse.Namespace, workdir: Path) -> int:
    emit(
        benchmark="config",
        cores=os.cpu_count(),
        rate=args.rate,
        schedules=args.schedules,
        failed=args.failed,
        workers=args.workers,
        concurrency=args.concurrency,
        seconds=args.seconds,
        presses=args.presses,
        back_key=args.back_key,
        terminal=f"{COLUMNS}x{LINES}",
    )
    note(
        f"{os.cpu_count()} cores: the nats-server, {args.workers} worker(s), the producer, the monitor and this "
        "script (the pyte screen) all compete for them; the figures are for this machine under that load"
    )
    processes = Processes(workdir)
    try:
        with EmbeddedServer(workdir / "nats") as server:
            try:
                producer_log, load = await set_up(args, server.url, processes)
            except Exception as exc:
                raise SetupError(f"{type(exc).__name__}: {exc}") from exc
            pids = {"nats_server": server.process.pid if server.process else 0, "producer": load[0]}
            pids.update({f"worker_{n}": pid for n, pid in enumerate(load[1:])})
            await measure(args, server.url, Flow(server.url, producer_log), pids)
    finally:
        processes.close()
        await naq.client.close()
    return 0


def summary(lines: list[dict[str, Any]], cores: int | None) -> None:
    """The figures against their targets, on stderr."""
    note(f"summary ({cores} cores, shared by the server, the workers, the producer, the monitor and this script):")
    for line in lines:
        if line.get("benchmark") not in TARGETS:
            continue
        metric, limit = TARGETS[line["benchmark"]]
        value = line.get(metric)
        verdict = "met" if line.get("target_met") else "NOT met"
        where = f" ({line['screen']} screen)" if "screen" in line else ""
        note(f"{line['benchmark']}{where}: {metric} = {value} (target < {limit:g}): {verdict}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="idle CPU window (default 30)")
    parser.add_argument("--presses", type=int, default=100, help="key presses timed (default 100)")
    parser.add_argument("--rate", type=float, default=2000.0, help="jobs enqueued per second (default 2000)")
    parser.add_argument("--schedules", type=int, default=1000, help="schedules (default 1000)")
    parser.add_argument("--failed", type=int, default=1000, help="jobs in the dead-letter queue (default 1000)")
    parser.add_argument("--workers", type=int, default=1, help="naq-worker processes (default 1)")
    parser.add_argument("--concurrency", type=int, default=100, help="jobs each worker runs at once (default 100)")
    parser.add_argument("--back-key", choices=sorted(BACK_KEYS), default="escape", help="key back to the overview")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between two presses (default 0.2)")
    parser.add_argument("--produce", metavar="NATS_URL", help=argparse.SUPPRESS)  # the producer subprocess
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.produce:
        asyncio.run(produce(args.produce, args.rate))
        return 0
    with tempfile.TemporaryDirectory(prefix="naq-bench-tui-") as tmp:
        try:
            asyncio.run(bench_main(args, Path(tmp)))
        except SetupError as exc:
            note(f"setup failed: {exc}")
            return 1
    summary(REPORTED, os.cpu_count())
    return 0


if __name__ == "__main__":
    sys.exit(main())
