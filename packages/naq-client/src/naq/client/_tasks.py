"""Stopping tasks reliably, and the stop signals of long-running naq processes."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

__all__ = ["pid_alive", "stop_signals", "stop_task", "stop_tasks"]

_CANCEL_ROUNDS: Final = 20
_ROUND_WAIT: Final = 0.5


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait for them, cancelling again those that swallow a cancellation.

    Python 3.11's ``asyncio.wait_for`` can swallow a cancel that coincides with its inner result
    (nats-py requests use it), so one ``cancel()`` is not always enough. Bounded: returns the tasks
    still running after every round (normally none).
    """
    pending = {task for task in tasks if not task.done()}
    for _ in range(_CANCEL_ROUNDS):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_ROUND_WAIT)
    return list(pending)


async def stop_task(task: asyncio.Task[Any], grace: float = 2.0) -> None:
    """Let ``task`` end on its own within ``grace`` seconds, then cancel it (see :func:`stop_tasks`)."""
    if not task.done():
        await asyncio.wait({task}, timeout=grace)
    await stop_tasks([task])


@contextmanager
def stop_signals(on_signal: Callable[[], None], install: bool = True) -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT call ``on_signal`` (main thread only; else nothing)."""
    loop = asyncio.get_running_loop()
    handled: list[int] = []
    if install and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
            handled.append(sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
