"""``completed`` events of jobs that finish together, published as one event per queue.

Short jobs finish in bursts (a thread pool hands back a batch of outcomes at once), so a worker
gathers the completions of one turn of the event loop and publishes them together: one event
carries every id in ``data.job_ids``, the way ``enqueue_many`` announces a window of jobs. A lone
completion is published as the usual per-job event. This keeps the hot path well under one event
per job, on the worker and on the server that stores the events.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from loguru import logger

from naq.client.runtime import Connection, publish_event
from naq.protocol import EventKind

__all__ = ["MAX_BATCH", "CompletionEvents"]

MAX_BATCH: Final = 500
"""Most completions in one event, so an event stays small however large the burst."""


@dataclass(slots=True)
class _Batch:
    job_ids: list[str] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)


class CompletionEvents:
    """Gathers one worker's completions and publishes them on the next turn of the event loop."""

    def __init__(self, connection: Connection, worker_id: str) -> None:
        self._connection = connection
        self._worker_id = worker_id
        self._batches: dict[str, _Batch] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._closing = False

    def add(self, queue: str, job_id: str, attempt: int, started_at: float, duration: float) -> None:
        """Note a completed job; its event goes out shortly (events may be lost, jobs never)."""
        batch = self._batches.get(queue)
        if batch is None:
            batch = self._batches[queue] = _Batch()
        batch.job_ids.append(job_id)
        batch.attempts.append(attempt)
        batch.started_at.append(started_at)
        batch.durations.append(duration)
        if self._flushing is None and not self._closing:
            self._flushing = asyncio.create_task(self._flush_soon(), name="naq-completion-events")

    async def close(self) -> None:
        """Publish what is gathered (called when the worker stops)."""
        self._closing = True
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await self._publish_all()

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(0)  # one turn: the other jobs of this burst finish meanwhile
            await self._publish_all()
        except Exception as exc:  # a closed connection: events are not worth failing jobs for
            logger.debug("completion events not published: {}", exc)
        finally:
            self._flushing = None
            if self._batches and not self._closing:  # completions that came while publishing
                self._flushing = asyncio.create_task(self._flush_soon(), name="naq-completion-events")

    async def _publish_all(self) -> None:
        batches, self._batches = self._batches, {}
        for queue, batch in batches.items():
            for start in range(0, len(batch.job_ids), MAX_BATCH):
                await self._publish(queue, batch, slice(start, start + MAX_BATCH))

    async def _publish(self, queue: str, batch: _Batch, part: slice) -> None:
        job_ids = batch.job_ids[part]
        if len(job_ids) == 1:  # the usual per-job event
            i = part.start
            await publish_event(
                self._connection,
                EventKind.COMPLETED,
                queue,
                job_ids[0],
                self._worker_id,
                attempt=batch.attempts[i],
                started_at=batch.started_at[i],
                duration=batch.durations[i],
            )
            return
        data: dict[str, Any] = {
            "job_ids": job_ids,
            "count": len(job_ids),
            "attempts": batch.attempts[part],
            "started_at": batch.started_at[part],
            "durations": batch.durations[part],
        }
        await publish_event(self._connection, EventKind.COMPLETED, queue, None, self._worker_id, **data)
