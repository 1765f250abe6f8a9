"""The worker registry: a heartbeat record per live worker in ``naq_workers``.

Records go out every ``NAQ_WORKER_HEARTBEAT_INTERVAL``, and also when the running jobs change, so
the registry follows a worker's work within a second; changes are coalesced into at most one
extra record a second, whatever the job rate (one KV put each, never one per job).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final, Protocol, runtime_checkable

from loguru import logger

from naq.client.runtime import Connection, stop_task
from naq.protocol import Settings, WorkerHeartbeat, WorkerStatus, names
from naq.protocol.subjects import kv_key_subject
from naq.worker._version import __version__

__all__ = ["Heartbeat", "HeartbeatHost"]

_MIN_GAP: Final = 1.0
"""Seconds between two heartbeats at least, when the running jobs changed since the last one."""


@runtime_checkable
class HeartbeatHost(Protocol):
    """What a heartbeat reports of its worker, and where it publishes (``connection``,
    ``registry``: the ``naq_workers`` bucket, every ``settings.worker_heartbeat_interval``)."""

    worker_id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: float
    processed: int
    failed: int
    processed_by_queue: dict[str, int]
    failed_by_queue: dict[str, int]
    connection: Connection
    settings: Settings
    registry: Any

    def running_job_ids(self) -> list[str]:
        """Ids of the jobs running now."""
        ...


class Heartbeat:
    """Publishes the worker's record every ``NAQ_WORKER_HEARTBEAT_INTERVAL`` and soon after the
    running jobs change (:meth:`changed`); removes it on stop."""

    def __init__(self, worker: HeartbeatHost) -> None:
        self.worker = worker
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._dirty = False

    def changed(self) -> None:
        """A job started or ended: beat within ``_MIN_GAP`` s. Cheap, for every job (no I/O here)."""
        self._dirty = True
        self._wake.set()

    def record(self, status: WorkerStatus | None = None) -> WorkerHeartbeat:
        """The worker's current heartbeat record."""
        worker = self.worker
        running = worker.running_job_ids()
        if status is None:
            status = WorkerStatus.BUSY if running else WorkerStatus.IDLE
        return WorkerHeartbeat(
            worker_id=worker.worker_id,
            hostname=worker.hostname,
            pid=worker.pid,
            queues=tuple(worker.queues),
            status=status,
            concurrency=worker.concurrency,
            started_at=worker.started_at,
            heartbeat_at=time.time(),
            current_jobs=tuple(running),
            processed=worker.processed,
            failed=worker.failed,
            version=__version__,
            processed_by_queue=dict(worker.processed_by_queue),
            failed_by_queue=dict(worker.failed_by_queue),
        )

    async def beat(self, status: WorkerStatus | None = None) -> None:
        """Publish one heartbeat now; a worker running more jobs than one record can name lists
        the first of them (the record fits the server's max payload)."""
        connection = self.worker.connection
        subject = kv_key_subject(names.WORKERS_BUCKET, self.worker.worker_id)
        record = self.record(status).fitted(connection.nc.max_payload)
        await connection.js.publish(subject, record.encode())

    def start(self) -> None:
        """Start beating in the background."""
        self._task = asyncio.create_task(self._loop(), name="naq-heartbeat")

    async def _loop(self) -> None:
        interval = self.worker.settings.worker_heartbeat_interval
        clock = asyncio.get_running_loop()
        failing: type[BaseException] | None = None  # what the beats failing now raise, warned about once
        while not self._stopped.is_set():
            # Cleared before the beat: a change while it is on its way earns the next one.
            self._dirty = False
            self._wake.clear()
            try:
                await self.beat()
            except Exception as exc:  # a missed beat is retried next interval; it must not stop the worker
                if type(exc) is not failing:  # once per cause, not once per interval (a record too large)
                    logger.warning("heartbeat failed: {}", exc)
                failing = type(exc)
            else:
                if failing is not None:
                    logger.info("heartbeats go through again")
                failing = None
            last = clock.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            if self._dirty:  # many changes within the gap make one beat
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), last + _MIN_GAP - clock.time())

    async def stop(self) -> None:
        """Stop beating and remove the record, so the worker leaves the registry at once."""
        if self._task is not None:
            # An event, not only cancel(): on Python 3.11 a cancel that lands as a reply arrives
            # inside nats-py's request can be swallowed, and the loop would beat on.
            self._stopped.set()
            self._wake.set()
            await stop_task(self._task)
        try:
            bucket = self.worker.registry
            await bucket.delete(self.worker.worker_id)
        except Exception as exc:  # leaving a record behind is harmless: it expires with its TTL
            logger.warning("could not remove the worker record: {}", exc)
