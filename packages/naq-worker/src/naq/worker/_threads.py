"""The threads sync jobs run in: ``concurrency`` threads and one cheap path back to the event loop.

``ThreadPoolExecutor`` + ``run_in_executor`` wakes the event loop once per finished call (a
``call_soon_threadsafe`` each, a syscall each). Here finished calls are queued and the loop is
woken once per batch of them, which matters when thousands of short sync jobs finish per second.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["JobThreads"]

_STOP = object()


class JobThreads:
    """A fixed set of daemon threads running submitted calls for one event loop."""

    def __init__(self, size: int, name: str = "naq-job") -> None:
        self._loop = asyncio.get_running_loop()
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done: deque[tuple[asyncio.Future[Any], bool, Any]] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        """Run ``func(*args, **kwargs)`` on a thread (in the caller's context); a future of its outcome."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._calls.put((future, contextvars.copy_context(), func, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            future, context, func, args, kwargs = item
            try:
                outcome, ok = context.run(func, *args, **kwargs), True
            except BaseException as exc:  # delivered to the awaiting job, whatever it is
                outcome, ok = exc, False
            with self._lock:
                self._done.append((future, ok, outcome))
                wake = not self._wake_pending
                self._wake_pending = True
            if wake:
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return

    def _deliver(self) -> None:
        with self._lock:
            finished, self._done = self._done, deque()
            self._wake_pending = False
        for future, ok, outcome in finished:
            if future.cancelled():
                continue
            if ok:
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def shutdown(self) -> None:
        """Let every thread exit once its current call returns (a call that never returns keeps its
        thread; the threads are daemons, so they do not keep the process alive)."""
        for _ in self._threads:
            self._calls.put(_STOP)
