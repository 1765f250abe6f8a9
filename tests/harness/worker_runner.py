"""In-process workers for end-to-end tests: started on the test's loop, stopped (and checked) after.

``run_worker`` (a fixture in ``tests/e2e/conftest.py``) gives a :class:`WorkerRunner`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats.js.errors

from harness.waiting import async_wait_for
from naq.protocol import Settings
from naq.worker import Worker

__all__ = ["WorkerRunner", "holds_for"]

WORKERS_BUCKET = "naq_workers"


async def holds_for(check: Callable[[], bool], seconds: float, what: str, interval: float = 0.1) -> None:
    """Observation window: ``check`` stays true for ``seconds`` (bounded loop; fails at once if not)."""
    deadline = time.monotonic() + seconds
    for _ in range(math.ceil(seconds / interval) + 2):
        assert check(), what
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(interval)


async def _registered(js: Any, worker: Worker, task: asyncio.Task[None]) -> bool:
    """True once ``worker``'s first heartbeat is in the registry; re-raises if the worker died.

    Read through the test's own nats-py connection, so waiting for the worker touches none of
    naq's connections or resources.
    """
    if task.done():
        task.result()
        raise AssertionError(f"worker {worker.worker_id} stopped before it registered")
    try:
        bucket = await js.key_value(WORKERS_BUCKET)
        entry = await bucket.get(worker.worker_id)
    except (nats.js.errors.BucketNotFoundError, nats.js.errors.NotFoundError, nats.js.errors.KeyNotFoundError):
        return False
    return bool(entry.value)


async def _stop(worker: Worker, task: asyncio.Task[None]) -> None:
    if task.done():
        task.result()  # a worker that died shows its error here
        return
    worker.request_stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=30)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError(f"worker {worker.worker_id} did not stop within 30 s of request_stop()") from None


class WorkerRunner:
    """``async with run_worker(queues, concurrency=N, **options) as worker``: an in-process Worker.

    The worker runs as a task on the test's loop; the block is entered once it has registered (its
    first heartbeat is stored) and on leaving it is stopped with ``request_stop()`` and awaited, so
    a worker that crashed fails the test.
    """

    def __init__(self, settings: Settings, js: Any) -> None:
        self.settings = settings
        self.js = js
        self.tasks: dict[str, tuple[Worker, asyncio.Task[None]]] = {}

    def task(self, worker: Worker) -> asyncio.Task[None]:
        """The task running ``worker``."""
        return self.tasks[worker.worker_id][1]

    @asynccontextmanager
    async def __call__(
        self,
        queues: str | list[str] | None = None,
        *,
        concurrency: int = 4,
        settings: Settings | None = None,
        grace: float = 5.0,
        **options: Any,
    ) -> AsyncIterator[Worker]:
        worker = Worker(queues, concurrency=concurrency, settings=settings or self.settings, grace=grace, **options)
        task = asyncio.create_task(worker.run(install_signal_handlers=False), name=f"worker-{worker.worker_id}")
        self.tasks[worker.worker_id] = (worker, task)
        await async_wait_for(
            lambda: _registered(self.js, worker, task), timeout=15, interval=0.05, what="worker registered"
        )
        try:
            yield worker
        finally:
            await _stop(worker, task)

    async def close(self) -> None:
        """Stop whatever still runs (a test that failed inside its block)."""
        for worker, task in self.tasks.values():
            if not task.done():
                worker.request_stop()
                await asyncio.wait({task}, timeout=30)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
