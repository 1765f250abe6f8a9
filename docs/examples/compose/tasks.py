"""Job functions of the compose demo: the workers run them (``NAQ_ALLOWED_MODULES=tasks``).

Mounted read-only at ``/app``, the workers' working directory, so ``naq-worker`` imports it from
there; an image of your own would copy its code in instead.
"""

from __future__ import annotations

import asyncio
import socket


def add(a: int, b: int) -> int:
    """A sync job: runs in the worker's thread pool."""
    return a + b


async def slow_square(x: int, delay: float = 0.5) -> dict[str, object]:
    """An async job that takes a while; says which worker container ran it."""
    await asyncio.sleep(delay)
    return {"square": x * x, "worker_host": socket.gethostname()}
