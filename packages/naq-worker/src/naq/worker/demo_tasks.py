"""The job functions ``naq demo`` enqueues: small, quick, each showing one behaviour.

The demo's worker runs with ``--allow-module naq.worker.demo_tasks``; these functions are public
so that a worker started by hand against ``naq demo --keep`` can run them too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from naq.protocol.context import JobContext

__all__ = ["add", "always_fails", "flaky", "slow_square", "step", "tick", "word_count"]


def add(x: float, y: float) -> float:
    """Return ``x + y``."""
    return x + y


def word_count(text: str) -> int:
    """Count the words of ``text``."""
    return len(text.split())


async def slow_square(x: int, seconds: float = 1.0) -> int:
    """An async job that takes ``seconds``, then returns ``x * x``."""
    await asyncio.sleep(seconds)
    return x * x


def flaky(ctx: JobContext, failures: int) -> str:
    """Fail the first ``failures`` attempts (as a flaky upstream would), then succeed."""
    if ctx.attempt <= failures:
        raise ConnectionError(f"upstream not ready (attempt {ctx.attempt})")
    return f"succeeded on attempt {ctx.attempt}"


def always_fails(reason: str) -> None:
    """Fail every attempt with ``ValueError(reason)``: the job ends in the dead-letter queue."""
    raise ValueError(reason)


def step(name: str, seconds: float = 0.3) -> str:
    """A sync step of a pipeline: works ``seconds`` in a worker thread."""
    time.sleep(seconds)
    return f"{name} done"


def tick() -> str:
    """A recurring job: the UTC time it ran at."""
    return datetime.now(UTC).strftime("%H:%M:%S")
