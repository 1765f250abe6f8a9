"""The real ``naq-tui`` console script in a pseudo-terminal, its screen read through pyte: with a
``naq-worker`` process serving a queue, the worker and the queue appear; ``s`` opens the schedules
screen; ``q`` quits with exit code 0."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import naq.client
from harness.processes import ProcessGroup
from harness.terminal import Terminal
from harness.worker_processes import spawn_worker, wait_registered

QUEUE = "ptyq"
WORKER = "pty-worker"
DEADLINE = 20.0
"""Seconds any one thing on the screen may take to appear."""


def pane_titles(screen: str) -> list[str]:
    """The first word of every row that starts inside a pane's border: the panes' titles among them."""
    rows = (line.strip("│ ") for line in screen.splitlines())
    return [row.split()[0] for row in rows if row and row[0] not in "╭╰"]


def worker_row(screen: str) -> str | None:
    """The workers table's row of :data:`WORKER`, if shown."""
    return next((line for line in screen.splitlines() if line.strip("│ ").startswith(WORKER)), None)


def queue_row(screen: str) -> str | None:
    """The queues table's row of :data:`QUEUE`, if shown."""
    return next((line for line in screen.splitlines() if line.strip("│ ").startswith(f"{QUEUE} ")), None)


async def test_the_console_script_shows_a_worker_and_its_queue_and_answers_keys(
    client_env: dict[str, str], processes: ProcessGroup, nats_url: str
) -> None:
    worker = spawn_worker(processes, client_env, WORKER, queues=[QUEUE])
    try:
        await wait_registered(processes, {WORKER: worker}, timeout=DEADLINE)
        # A job on the queue, so the queue exists whether or not the worker is quick to create it.
        await naq.client.enqueue("harness.jobs:noop", queue_name=QUEUE)
    finally:
        await naq.client.close()
    script = Path(sys.executable).parent / "naq-tui"
    with Terminal([str(script), "--nats-url", nats_url], client_env, columns=120, lines=40) as term:
        # The waits block; they run in a thread so the test's loop stays free.
        await asyncio.to_thread(term.wait_for, lambda s: worker_row(s) is not None, DEADLINE, "worker row")
        await asyncio.to_thread(term.wait_for, lambda s: queue_row(s) is not None, DEADLINE, "queue row")
        screen = term.text()
        row = worker_row(screen)
        assert row is not None
        assert QUEUE in row.split(), f"the worker's queues column: {row!r}"
        assert {"Queues", "Workers"} <= set(pane_titles(screen))
        assert "Schedules" not in pane_titles(screen)

        term.send(b"s")
        # The whole frame, not its first lines: the emulator may have read part of it.
        await asyncio.to_thread(
            term.wait_for,
            lambda s: "Schedules" in pane_titles(s) and worker_row(s) is None,
            DEADLINE,
            "schedules pane",
        )
        screen = term.text()
        assert "cron / interval" in screen
        assert worker_row(screen) is None

        term.send(b"q")
        code = await asyncio.to_thread(term.wait_exit, DEADLINE)
        assert code == 0, f"naq-tui exited with {code}; the screen:\n{term.text()}"
