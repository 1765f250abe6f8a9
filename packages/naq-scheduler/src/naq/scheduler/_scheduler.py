"""``Scheduler``: keeps the schedules in memory and, while it leads, fires their due runs.

Run two or three for high availability: exactly one leads (see ``_leader``), the others keep the
same in-memory view from the KV watch and take over within ``lock_ttl`` + one poll after a crash,
or within one poll after a clean stop. SIGTERM/SIGINT stop it and release the lock. With
``NAQ_SCHEDULER_ALIVE_FILE`` set, each tick refreshes that file for ``naq-scheduler --check``
(see ``_health``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Final

from loguru import logger

from naq.client.runtime import (
    Connection,
    KeyWatch,
    ensure_bucket,
    ensure_stream,
    get_connection,
    publish_system_event,
    resolve_settings,
    schedules_kv,
    stop_signals,
    stop_tasks,
)
from naq.protocol import ConfigurationError, ScheduleRecord, Settings, SystemEventKind, resources
from naq.protocol.ids import process_id, validate_token
from naq.scheduler._firing import Firer
from naq.scheduler._health import AliveFile
from naq.scheduler._leader import LeaderLock
from naq.scheduler._view import ScheduleView

__all__ = ["Scheduler"]

_BATCH: Final = 256
"""Most due schedules taken from the heap at once."""

_CONCURRENT_FIRES: Final = 64
"""Most runs being claimed and published at the same time."""

_WATCH_START_TIMEOUT: Final = 300.0
"""Seconds allowed to load every schedule at start (100,000 schedules take a few)."""

_ERROR_BACKOFF: Final = 1.0


def _check_instance_id(instance_id: str) -> str:
    try:
        return validate_token("scheduler instance id", instance_id)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


class Scheduler:
    """Fires delayed and recurring jobs; several may run, one leads.

    Arguments override the ``NAQ_*`` settings: ``poll_interval`` (``NAQ_SCHEDULER_POLL_INTERVAL``),
    ``lock_ttl`` and ``renew_interval`` (``NAQ_SCHEDULER_LOCK_TTL`` /
    ``NAQ_SCHEDULER_LOCK_RENEW_INTERVAL``), ``alive_file`` (``NAQ_SCHEDULER_ALIVE_FILE``: a file
    refreshed every tick, for health checks). ``enable_ha=False`` skips the leader lock: run only
    one such scheduler, or runs may be enqueued by several.
    """

    def __init__(
        self,
        nats_url: str | Sequence[str] | None = None,
        poll_interval: float | None = None,
        instance_id: str | None = None,
        enable_ha: bool = True,
        lock_ttl: int | None = None,
        renew_interval: float | None = None,
        *,
        settings: Settings | None = None,
        alive_file: str | None = None,
    ) -> None:
        base = resolve_settings(nats_url, settings)
        overrides = {
            "scheduler_poll_interval": poll_interval,
            "scheduler_lock_ttl": lock_ttl,
            "scheduler_lock_renew_interval": renew_interval,
            "scheduler_alive_file": alive_file,
        }
        self.settings = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
        self.instance_id = _check_instance_id(instance_id or process_id())
        self.enable_ha = enable_ha
        self.view = ScheduleView()
        self.connection: Connection | None = None
        self.lock: LeaderLock | None = None
        self.firer: Firer | None = None
        self._leading = False
        self._running = False
        self._stopping: asyncio.Event | None = None
        self._watch: KeyWatch | None = None
        path = self.settings.scheduler_alive_file
        self._alive = AliveFile(path) if path else None

    def __repr__(self) -> str:
        return f"Scheduler(instance_id={self.instance_id!r}, enable_ha={self.enable_ha})"

    @property
    def poll_interval(self) -> float:
        """Seconds between ticks."""
        return self.settings.scheduler_poll_interval

    @property
    def is_leader(self) -> bool:
        """True while this scheduler may fire runs."""
        if not self.enable_ha:
            return self._running
        return self._running and self.lock is not None and self.lock.held

    def request_stop(self) -> None:
        """Stop: no more firing, release the lock (what SIGTERM/SIGINT do)."""
        if self._stopping is not None:
            self._stopping.set()

    async def run(self, install_signal_handlers: bool = True) -> None:
        """Run until :meth:`request_stop` or a signal."""
        self._stopping = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:
            with stop_signals(self.request_stop, install_signal_handlers):
                await self._start()
                tasks = [asyncio.create_task(self._fire_loop(), name="naq-scheduler-fire")]
                if self.enable_ha:
                    tasks.append(asyncio.create_task(self._lead_loop(), name="naq-scheduler-lead"))
                else:
                    await self._leadership_changed(True, "high availability disabled")
                await self._stopping.wait()
        finally:
            await stop_tasks(tasks)
            await self._shutdown()

    async def _start(self) -> None:
        self.connection = connection = await get_connection(self.settings)
        await ensure_stream(connection, resources.jobs_stream(self.settings))
        await ensure_stream(connection, resources.events_stream(self.settings))
        await ensure_bucket(connection, resources.scheduler_lock_bucket(self.settings))
        self._watch = KeyWatch(await schedules_kv(connection), self.view.on_entry, meta_only=False)
        await self._watch.start(timeout=_WATCH_START_TIMEOUT)
        self.lock = LeaderLock(
            connection,
            self.instance_id,
            self.settings.scheduler_lock_ttl,
            self.settings.scheduler_lock_renew_interval,
        )
        self.firer = Firer(
            connection,
            self.view,
            lambda: self.is_leader,
            self.settings.max_schedule_failures,
            self.poll_interval,
            self.settings.min_schedule_interval,
        )
        self._running = True
        if self._alive is not None:
            self._alive.start()
        logger.info(
            "scheduler {} started with {} schedule(s) (poll {} s, lock ttl {} s)",
            self.instance_id,
            len(self.view),
            self.poll_interval,
            self.settings.scheduler_lock_ttl,
        )
        if self.settings.keys is not None:  # NAQ_SIGNING_KEY: templates are checked, runs signed
            logger.info("signing runs with key id {}", self.settings.keys.signing_id)

    async def _leadership_changed(self, leading: bool, why: str) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        kind = SystemEventKind.LEADER_ELECTED if leading else SystemEventKind.LEADER_LOST
        logger.info("scheduler {} {} ({})", self.instance_id, "leads" if leading else "no longer leads", why)
        self.view.changed.set()
        if self.connection is not None and not self.connection.closed:
            try:
                await publish_system_event(self.connection, kind, instance_id=self.instance_id, reason=why)
            except Exception as exc:  # an event is informative; losing one must not stop the scheduler
                logger.debug("could not publish the leadership event: {}", exc)

    async def _lead_loop(self) -> None:
        """Renew the lock while leading; try to take it every poll while not."""
        lock, stopping = self.lock, self._stopping
        if lock is None or stopping is None:
            raise RuntimeError("the scheduler has not started")
        while not stopping.is_set():
            try:
                if lock.revision is not None:
                    if await lock.renew():
                        await self._leadership_changed(True, "lock renewed")
                    else:
                        await self._leadership_changed(False, "lock not renewed")
                    pause = lock.renew_interval
                elif await lock.try_acquire():
                    await self._leadership_changed(True, "lock taken")
                    pause = lock.renew_interval
                else:
                    await self._leadership_changed(False, "lock held by another scheduler")
                    pause = self.poll_interval
            except Exception as exc:  # never let the election die: report, wait, try again
                logger.warning("leader election error: {}", exc)
                pause = _ERROR_BACKOFF
            await self._sleep(pause)

    async def _fire_loop(self) -> None:
        """Each tick, fire what is due while leading; sleep until the next due time or poll."""
        firer, stopping = self.firer, self._stopping
        if firer is None or stopping is None:
            raise RuntimeError("the scheduler has not started")
        limit = asyncio.Semaphore(_CONCURRENT_FIRES)

        async def fire_one(record: ScheduleRecord, revision: int) -> None:
            async with limit:
                try:
                    await firer.fire(record, revision)
                except Exception as exc:  # one schedule's trouble must not stop the others
                    logger.warning("error firing a schedule: {}", exc)

        while not stopping.is_set():
            if self._alive is not None:
                self._alive.touch()
            # Cleared before looking, so an entry that arrives meanwhile still wakes the sleep.
            self.view.changed.clear()
            if self.is_leader:
                due = self.view.pop_due(time.time(), _BATCH)
                if due:
                    await asyncio.gather(*(fire_one(record, revision) for record, revision in due))
                    continue
            next_due = self.view.next_due()
            wait = self.poll_interval
            if next_due is not None and self.is_leader:
                wait = max(0.0, min(wait, next_due - time.time()))
            await self._sleep(wait, self.view.changed)

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep up to ``seconds``; wake early on a stop request or when ``wake`` is set."""
        assert self._stopping is not None
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _shutdown(self) -> None:
        self._running = False
        if self._alive is not None:  # first: a stopping scheduler is no longer healthy
            self._alive.remove()
        if self.lock is not None and self.lock.revision is not None:
            await self.lock.release()
        await self._leadership_changed(False, "stopped")
        if self._watch is not None:
            await self._watch.stop()
        logger.info("scheduler {} stopped", self.instance_id)
