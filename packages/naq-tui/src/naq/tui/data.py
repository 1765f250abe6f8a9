"""The monitor's one door to naq: what the screens read and do, and its NATS implementation.

Screens see a :class:`DataSource` (a small Protocol) and the :class:`Snapshot` it returns, never
naq.client itself, so a screen can be driven by any source (the snapshot tests feed fixed
records). :class:`NatsDataSource` builds on naq.client's public API: workers and schedules come
from live KV watches (one consumer each, kept open); queue figures are one-shot reads (no
consumer) made once per snapshot, and the rates are derived from successive snapshots. The
dead-letter queue, single jobs and the event stream are read on demand, by the screens that show
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import naq.client
from naq.client import (
    ChangeKind,
    EventRecord,
    FailedEntry,
    JobInfo,
    QueueStats,
    RemovalReason,
    ScheduleRecord,
    ScheduleWatch,
    WorkerChange,
    WorkerHeartbeat,
    WorkerWatch,
)
from naq.tui.rates import QueueRates, RateTracker

__all__ = ["FAILED_LIMIT", "LOST_LINGER", "DataSource", "NatsDataSource", "Snapshot"]

FAILED_LIMIT: Final = 1000
"""Most dead-letter records the failed jobs screen reads (and shows) at once."""

LOST_LINGER: Final = 30.0
"""Seconds a worker whose registry entry expired (it crashed, or lost NATS) stays listed as lost."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the screens show, read at :attr:`at` (Unix seconds)."""

    queues: tuple[QueueStats, ...]
    """Each queue's figures, by queue name."""
    workers: tuple[WorkerHeartbeat, ...]
    """The latest heartbeat of each live worker, by worker id."""
    schedules: tuple[ScheduleRecord, ...]
    """Every schedule and pending one-off job, soonest first."""
    at: float
    rates: Mapping[str, QueueRates] = field(default_factory=dict)
    """Each queue's rates, by queue name (empty until two reads were made)."""
    lost: frozenset[str] = frozenset()
    """Ids of the workers in :attr:`workers` that are lost: their heartbeat lapsed, or their
    registry entry expired (then they are listed for :data:`LOST_LINGER` seconds more)."""


class DataSource(Protocol):
    """What the monitor needs from naq: one read of everything, and the actions its keys take."""

    @property
    def url(self) -> str:
        """The server the source reads, as shown in the status bar."""
        ...

    async def snapshot(self) -> Snapshot:
        """Read everything now; raises a ``naq.client.NaqError`` (or ``OSError``) when it cannot."""
        ...

    async def failed_jobs(self, limit: int) -> tuple[FailedEntry, ...]:
        """At most ``limit`` dead-letter records, oldest first."""
        ...

    async def job_info(self, job_id: str) -> JobInfo:
        """Everything naq keeps about ``job_id``; ``naq.client.JobNotFoundError`` if it has no
        trace of it, ``ValueError`` if ``job_id`` is not a valid id."""
        ...

    async def pause_schedule(self, schedule_id: str) -> bool:
        """Pause a schedule; False if it is unknown."""
        ...

    async def resume_schedule(self, schedule_id: str) -> bool:
        """Resume a paused (or failed) schedule; False if it is unknown."""
        ...

    async def run_schedule_now(self, schedule_id: str) -> str:
        """Enqueue one extra run of a schedule now; the id of that run's job."""
        ...

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule for good; False if it is unknown."""
        ...

    async def requeue_failed(self, entry: FailedEntry) -> str:
        """Put a failed job back on its queue; its job id."""
        ...

    async def delete_failed(self, entry: FailedEntry) -> None:
        """Remove a dead-letter record."""
        ...

    async def purge_queue(self, queue: str) -> int:
        """Remove every job waiting on ``queue``; how many."""
        ...

    async def cancel_job(self, job_id: str) -> bool:
        """Cancel a queued, waiting or running job; False if it had ended or is unknown."""
        ...

    def events(self, queue: str | None = None, kinds: tuple[str, ...] | None = None) -> AsyncIterator[EventRecord]:
        """Events as they are published (of ``queue`` and ``kinds`` when given), from now on.
        Close the iterator (``aclose``) to stop reading."""
        ...

    async def close(self) -> None:
        """Release what the source holds (watches, connections)."""
        ...


class _Watched:
    """A bucket watch kept open by a task; restarted by :meth:`ensure` once it has ended (a lost
    connection ends it), so a monitor recovers when the server comes back."""

    def __init__(
        self,
        open_watch: Callable[[], WorkerWatch | ScheduleWatch],
        on_change: Callable[[object], None] | None = None,
    ) -> None:
        self._open_watch = open_watch
        self._on_change = on_change
        self.watch: WorkerWatch | ScheduleWatch | None = None
        self._task: asyncio.Task[None] | None = None

    def ensure(self) -> None:
        if self._task is None or self._task.done():
            self.watch = self._open_watch()
            self._task = asyncio.create_task(self._follow(self.watch), name="naq-tui-watch")

    async def _follow(self, watch: WorkerWatch | ScheduleWatch) -> None:
        # The watch keeps its own view of the bucket current as it is iterated.
        with contextlib.suppress(naq.client.NaqError, OSError):
            async with watch:
                async for change in watch:
                    if self._on_change is not None:
                        self._on_change(change)

    @property
    def ready(self) -> bool:
        """True once the watch has delivered every key the bucket held when it started."""
        return self.watch is not None and self.watch.ready and self._task is not None and not self._task.done()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.watch is not None:
            with contextlib.suppress(naq.client.NaqError, OSError):
                await self.watch.aclose()


class NatsDataSource:
    """A :class:`DataSource` reading the naq deployment at ``nats_url`` (``None``: ``NAQ_NATS_URL``).

    Other settings (connect timeout, credentials, TLS, the heartbeat interval that tells when a
    worker is lost) come from the ``NAQ_*`` environment, as for naq.client's module-level API; a
    worker whose registry entry expired stays listed as lost for ``lost_linger`` seconds.
    Watches are opened on the first snapshot that reaches the server, on the event loop that
    takes it.
    """

    def __init__(self, nats_url: str | None = None, *, lost_linger: float = LOST_LINGER) -> None:
        settings = naq.client.Settings.from_env(nats_url=nats_url)
        self._lost_linger = lost_linger
        self._nats_url = nats_url
        self._url = nats_url or ", ".join(settings.servers)
        # Two heartbeats missed (and a second for the write): the worker is not answering.
        self._lapse = 2 * settings.worker_heartbeat_interval + 1.0
        self._expired: dict[str, tuple[WorkerHeartbeat, float]] = {}
        self._rates = RateTracker()
        self._workers = _Watched(lambda: naq.client.watch_workers(nats_url), self._worker_changed)
        self._schedules = _Watched(lambda: naq.client.watch_schedules(nats_url))

    @property
    def url(self) -> str:
        """The server the source reads."""
        return self._url

    async def snapshot(self) -> Snapshot:
        """Queue figures read now; workers and schedules as the watches see them (read once
        directly while a watch is still starting)."""
        at = time.time()
        names = await naq.client.queues(self._nats_url)
        self._workers.ensure()
        self._schedules.ensure()
        stats = await asyncio.gather(*(naq.client.queue_stats(name, self._nats_url) for name in names))
        live = await self._live_workers()
        schedules = await self._current_schedules()
        rates = self._rates.update(at, stats, live)
        lost = {beat.worker_id for beat in live if at - beat.heartbeat_at > self._lapse}
        listed = {beat.worker_id: beat for beat in live}
        for worker_id, (beat, expired_at) in list(self._expired.items()):
            if worker_id in listed or at - expired_at > self._lost_linger:
                del self._expired[worker_id]  # back (a new heartbeat), or listed long enough
            else:
                listed[worker_id] = beat
                lost.add(worker_id)
        workers = tuple(sorted(listed.values(), key=lambda beat: beat.worker_id))
        return Snapshot(tuple(stats), workers, schedules, at, rates, frozenset(lost))

    def _worker_changed(self, change: object) -> None:
        if (
            isinstance(change, WorkerChange)
            and change.kind is ChangeKind.DISAPPEARED
            and change.reason is RemovalReason.EXPIRED
        ):
            self._expired[change.worker_id] = (change.heartbeat, time.time())

    async def _live_workers(self) -> list[WorkerHeartbeat]:
        watch = self._workers.watch
        if self._workers.ready and isinstance(watch, WorkerWatch):
            return list(watch.workers.values())
        return await naq.client.list_workers(self._nats_url)

    async def _current_schedules(self) -> tuple[ScheduleRecord, ...]:
        watch = self._schedules.watch
        if self._schedules.ready and isinstance(watch, ScheduleWatch):
            records = list(watch.schedules.values())
        else:
            records = await naq.client.list_scheduled_jobs(nats_url=self._nats_url)
        return tuple(sorted(records, key=lambda r: (r.next_run_at, r.schedule_id)))

    async def failed_jobs(self, limit: int) -> tuple[FailedEntry, ...]:
        """The first ``limit`` records :func:`naq.client.failed_jobs` yields (oldest first)."""
        entries: list[FailedEntry] = []
        if limit <= 0:
            return ()
        # Closed at once when the limit cuts it short, rather than whenever it is collected.
        async with contextlib.aclosing(naq.client.failed_jobs(nats_url=self._nats_url)) as records:
            async for entry in records:
                entries.append(entry)
                if len(entries) >= limit:
                    break
        return tuple(entries)

    async def job_info(self, job_id: str) -> JobInfo:
        """:func:`naq.client.job_info` of ``job_id``."""
        return await naq.client.job_info(job_id, self._nats_url)

    async def pause_schedule(self, schedule_id: str) -> bool:
        """Pause ``schedule_id`` (:func:`naq.client.pause_scheduled_job`)."""
        return await naq.client.pause_scheduled_job(schedule_id, self._nats_url)

    async def resume_schedule(self, schedule_id: str) -> bool:
        """Resume ``schedule_id`` (:func:`naq.client.resume_scheduled_job`)."""
        return await naq.client.resume_scheduled_job(schedule_id, self._nats_url)

    async def run_schedule_now(self, schedule_id: str) -> str:
        """:func:`naq.client.run_scheduled_job_now`; the run's job id."""
        return (await naq.client.run_scheduled_job_now(schedule_id, self._nats_url)).job_id

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """:func:`naq.client.cancel_scheduled_job`."""
        return await naq.client.cancel_scheduled_job(schedule_id, self._nats_url)

    async def requeue_failed(self, entry: FailedEntry) -> str:
        """:func:`naq.client.requeue_failed_job` of the listed ``entry``."""
        return await naq.client.requeue_failed_job(entry, nats_url=self._nats_url)

    async def delete_failed(self, entry: FailedEntry) -> None:
        """:func:`naq.client.delete_failed_job` of the listed ``entry``."""
        await naq.client.delete_failed_job(entry, nats_url=self._nats_url)

    async def purge_queue(self, queue: str) -> int:
        """:func:`naq.client.purge_queue`."""
        return await naq.client.purge_queue(queue, self._nats_url)

    async def cancel_job(self, job_id: str) -> bool:
        """:func:`naq.client.cancel_job`."""
        return await naq.client.cancel_job(job_id, self._nats_url)

    async def events(
        self, queue: str | None = None, kinds: tuple[str, ...] | None = None
    ) -> AsyncIterator[EventRecord]:
        """:func:`naq.client.events`, from now on; its consumer goes when this is closed."""
        async with naq.client.events(queue, kinds, nats_url=self._nats_url) as stream:
            async for event in stream:
                yield event

    async def close(self) -> None:
        """Close the watches. The loop's naq connections are shared (with a worker running in the
        same process, say), so they stay open: whoever runs the loop closes them."""
        await self._workers.close()
        await self._schedules.close()
