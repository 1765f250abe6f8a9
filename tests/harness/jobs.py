"""Job functions the tests enqueue; workers import them as ``harness.jobs:<name>``.

Side effects go to files under a directory the test passes in, so a test can count runs across
worker processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Final

TEST_JOB_MODULES: Final = ("harness", "tests")
"""Module prefixes of the tests' job functions: the allowed modules of the workers tests start."""


def add(a: int, b: int) -> int:
    """Return a + b."""
    return a + b


async def async_add(a: int, b: int) -> int:
    """Return a + b from a coroutine."""
    await asyncio.sleep(0)
    return a + b


def noop() -> None:
    """Do nothing (benchmarks)."""


def record_run(directory: str, tag: str, seconds: float = 0.0) -> str:
    """Append one line to ``<directory>/<tag>``, optionally sleeping first; returns the tag."""
    if seconds:
        time.sleep(seconds)
    with Path(directory, tag).open("a") as file:
        file.write(f"{time.time()} {os.getpid()}\n")
    return tag


def runs(directory: str, tag: str) -> list[float]:
    """Start times recorded by :func:`record_run` for ``tag``."""
    path = Path(directory, tag)
    if not path.exists():
        return []
    return [float(line.split()[0]) for line in path.read_text().splitlines()]


class PlannedError(Exception):
    """Raised on purpose by test jobs."""


class OtherError(Exception):
    """Another error class, for retry_on / ignore_on filters."""


def always_fail(directory: str, tag: str) -> None:
    """Record a run, then fail."""
    record_run(directory, tag)
    raise PlannedError(f"planned failure of {tag}")


def fail_with(directory: str, tag: str, error: str) -> None:
    """Record a run, then raise ``PlannedError`` or ``OtherError`` (by name)."""
    record_run(directory, tag)
    raise {"PlannedError": PlannedError, "OtherError": OtherError}[error](tag)


def fail_times(directory: str, tag: str, failures: int) -> str:
    """Fail on the first ``failures`` runs, then succeed."""
    record_run(directory, tag)
    if len(runs(directory, tag)) <= failures:
        raise PlannedError(f"failure {len(runs(directory, tag))} of {failures}")
    return "done"


def sleep_then_record(directory: str, tag: str, seconds: float) -> str:
    """Sleep (blocking), then record a run."""
    time.sleep(seconds)
    return record_run(directory, tag)


async def async_sleep_then_record(directory: str, tag: str, seconds: float) -> str:
    """Sleep (async), then record a run."""
    await asyncio.sleep(seconds)
    return record_run(directory, tag)


def exit_process(directory: str, tag: str) -> None:
    """Record a run, then kill the worker process outright (a poison job)."""
    record_run(directory, tag)
    os._exit(1)


def raise_system_exit() -> None:
    """A job that tries to stop its worker."""
    raise SystemExit(3)


def unpicklable_result() -> Any:
    """Return something JSON cannot carry."""
    return object()


def with_context(ctx: Any, a: int) -> dict[str, Any]:
    """Return what the job context says, and the worker's startup state."""
    return {"job_id": ctx.job_id, "attempt": ctx.attempt, "queue": ctx.queue, "a": a, "state": ctx.state.get("db")}


def raise_keyboard_interrupt() -> None:
    """A job that tries to interrupt its worker."""
    raise KeyboardInterrupt


def fail_now() -> None:
    """Fail at once (benchmarks)."""
    raise PlannedError("planned failure")


async def async_sleep(seconds: float) -> None:
    """Sleep (async) for ``seconds``; a cancel interrupts it (benchmarks)."""
    await asyncio.sleep(seconds)


def big_value(directory: str, tag: str, size: int) -> str:
    """Record a run, then return a string of ``size`` characters (a result too large to store)."""
    record_run(directory, tag)
    return "x" * size


def fail_hugely(directory: str, tag: str, size: int, where: str) -> None:
    """Record a run, then raise ``PlannedError`` with ``size`` characters in its message
    (``where="message"``) or in the message of its cause, so only the traceback is huge."""
    record_run(directory, tag)
    if where == "message":
        raise PlannedError("y" * size)
    raise PlannedError(f"planned failure of {tag}") from OtherError("z" * size)


def fail_padded(directory: str, tag: str, padding: str) -> None:
    """Record a run, then fail; ``padding`` only makes the job as large as a test needs."""
    always_fail(directory, tag)


def run_until_released(directory: str, tag: str, timeout: float = 60.0) -> str:
    """Run until the file ``<directory>/<tag>.release`` exists (at most ``timeout`` s); returns the tag."""
    release = Path(directory, f"{tag}.release")
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 2):  # bounded in count as well as time
        if release.exists():
            return tag
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    raise PlannedError(f"{tag} was not released within {timeout} s")


async def record_then_sleep(directory: str, tag: str, seconds: float) -> str:
    """Record a run, then sleep (async) for ``seconds``: with a shorter ``timeout``, every attempt
    is counted and then cancelled."""
    record_run(directory, tag)
    await asyncio.sleep(seconds)
    return tag


async def raise_own_timeout(directory: str, tag: str) -> None:
    """Record a run, then raise a ``TimeoutError`` of the job's own (an upstream call timing out)."""
    record_run(directory, tag)
    raise TimeoutError(f"upstream of {tag} timed out")
