"""Job functions of the fault tests (tests/chaos); workers import them as ``harness.chaos_jobs:<name>``.

Every execution records itself in ``<directory>/executions.log``: one line when it starts and one
when its function returns, each ``<event> <job_id> <pid> <unix time>``, written with a single
``write`` on a descriptor opened ``O_APPEND`` (one line is far below ``PIPE_BUF``, so lines of
concurrent threads and processes never interleave, and a SIGKILL cannot tear one). These are the
jobs' own records: a run counted here really executed, whatever the queue's counters say.

Only the standard library: the workers import this module.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LOG_NAME", "Execution", "crash", "executions", "starts", "work"]

LOG_NAME = "executions.log"
"""The file, in the directory a job is given, that every execution appends to."""


def _record(directory: str, event: str, job_id: str) -> None:
    line = f"{event} {job_id} {os.getpid()} {time.time():.6f}\n".encode()
    fd = os.open(Path(directory, LOG_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def work(ctx: Any, directory: str, seconds: float = 0.0) -> str:
    """Record the start, sleep ``seconds`` (blocking, in the worker's thread), record the end; returns the job id."""
    _record(directory, "start", ctx.job_id)
    if seconds:
        time.sleep(seconds)
    _record(directory, "end", ctx.job_id)
    return ctx.job_id


def crash(ctx: Any, directory: str) -> None:
    """Record the start, then take the worker process down at once (a poison job: no result, no ack)."""
    _record(directory, "start", ctx.job_id)
    os._exit(1)


@dataclass(frozen=True, slots=True)
class Execution:
    """One line of the executions log."""

    event: str
    """``start`` or ``end``."""
    job_id: str
    pid: int
    at: float
    """Unix time of the event, seconds."""


def executions(directory: str | Path) -> list[Execution]:
    """Every recorded event under ``directory``, in the order written."""
    path = Path(directory, LOG_NAME)
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        event, job_id, pid, at = line.split()
        found.append(Execution(event, job_id, int(pid), float(at)))
    return found


def starts(records: list[Execution]) -> Counter[str]:
    """How many times each job id started executing."""
    return Counter(record.job_id for record in records if record.event == "start")
