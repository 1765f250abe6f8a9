"""Sync twins of the async API: one background event loop thread per process, reused by every call.

Calls from any thread (including a thread pool of a running event loop) run their coroutine on
that loop and wait for it, so a thousand calls in a row share one loop and one connection. The
loop is a daemon thread; at interpreter exit its connections are flushed and closed and every
task still on it (an acknowledgement sweeper, a watch) is stopped before the loop stops, so a
script ends without "Task was destroyed but it is pending!".
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

from naq.client._connection import close_connections
from naq.client._tasks import stop_tasks

__all__ = ["run_sync"]

T = TypeVar("T")

_CLOSE_TIMEOUT: Final = 5.0


class _LoopThread:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="naq-sync-loop", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
                atexit.register(self.close)
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self.loop()
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a naq *_sync function was called from naq's own sync loop; await the async one")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Ctrl-C during a wait: the wait on the loop ends too
            raise

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        # At exit, a connection that will not close cleanly within the timeout is dropped.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_shut_down(), loop).result(_CLOSE_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CLOSE_TIMEOUT)
        if not thread.is_alive():
            loop.close()


async def _shut_down() -> None:
    await close_connections()
    # The loop is naq's own: whatever still runs on it is naq's, and is stopped before the loop is.
    current = asyncio.current_task()
    await stop_tasks(task for task in asyncio.all_tasks() if task is not current)
    await asyncio.get_running_loop().shutdown_asyncgens()


_background = _LoopThread()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on naq's background loop and return its result (re-raising its error)."""
    return _background.run(coroutine)
