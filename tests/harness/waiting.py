"""Waiting for a condition with a deadline, never a bare sleep; every loop is bounded."""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["async_wait_for", "wait_for"]

T = TypeVar("T")


def _max_checks(timeout: float, interval: float) -> int:
    # A cap on iterations as well as time: a clock that misbehaves cannot make the loop endless.
    return math.ceil(timeout / interval) + 2


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02, what: str = "condition") -> T:
    """Call ``predicate`` until it returns something truthy and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    for _ in range(_max_checks(timeout, interval)):
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout} s (last value: {last!r})")


async def async_wait_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Async :func:`wait_for`; ``predicate`` may be sync or async."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    for _ in range(_max_checks(timeout, interval)):
        result = predicate()
        last = await result if inspect.isawaitable(result) else result
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not met within {timeout} s (last value: {last!r})")
