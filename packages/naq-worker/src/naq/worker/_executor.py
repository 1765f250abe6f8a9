"""Running a job's function: async functions as tasks, sync ones in the worker's thread pool.

A timeout cancels an async job. A sync job cannot be interrupted from outside its thread: at its
timeout the job is failed (and never run again), but its thread runs on until the function
returns, and the worker keeps counting that thread's slot as busy until then, so it never runs
more than ``concurrency`` things at once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from naq.protocol import JobTimeoutError
from naq.worker._threads import JobThreads

__all__ = ["run_call"]


async def run_call(
    func: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    timeout: float | None,
    threads: JobThreads,
    on_thread_done: Callable[[], None],
) -> Any:
    """Call ``func`` and return its value; raise what it raised, or ``JobTimeoutError``.

    When a sync job times out while its thread still runs, ``on_thread_done`` is called once the
    thread ends (and ``JobTimeoutError.thread_running`` is True), so the caller can keep the slot.
    """
    if inspect.iscoroutinefunction(func):
        return await _within(func(*args, **kwargs), timeout)
    future = threads.submit(func, args, kwargs)
    if timeout is None:
        value = await future
        return await value if inspect.isawaitable(value) else value
    try:
        value = await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        if future.done():
            return future.result()
        future.add_done_callback(lambda done: _thread_ended(done, on_thread_done))
        raise JobTimeoutError.after(timeout, thread_running=True) from None
    if inspect.isawaitable(value):  # a sync callable that returned a coroutine
        value = await _within(value, timeout)
    return value


def _thread_ended(done: asyncio.Future[Any], on_thread_done: Callable[[], None]) -> None:
    """A timed-out sync job's thread ended: free its slot. What it raised meanwhile is retrieved
    here, or asyncio logs "Future exception was never retrieved" (an ERROR line per such job; found
    by fuzzing): the job already failed with its timeout."""
    if not done.cancelled():
        done.exception()
    on_thread_done()


async def _within(awaitable: Any, timeout: float | None) -> Any:
    """Await ``awaitable`` in this task; ``JobTimeoutError`` only if *its deadline* passed.

    A ``TimeoutError`` the job raises itself (an HTTP client's, say) stays what it is, so
    ``retry_on`` / ``ignore_on`` see the job's own error, as test mode records it.
    """
    if timeout is None:
        return await awaitable
    try:
        async with asyncio.timeout(timeout) as deadline:
            return await awaitable
    except TimeoutError:
        if deadline.expired():
            raise JobTimeoutError.after(timeout) from None
        raise
