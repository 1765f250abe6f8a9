"""Firing one due schedule: claim the run, publish it, confirm it.

1. **Claim**: compare-and-set the record to the next cadence with ``pending_run_at`` = the run's
   due time. Only one scheduler can claim a given revision, so two schedulers that both believe
   they lead (a frozen leader waking up) never fire the same run, nor two different catch-up runs.
2. **Publish** the run: its job id and message id are derived from (schedule id, due time) (a
   one-off run keeps the id ``enqueue_at`` returned), so a second publish of the same run is
   dropped by JetStream's duplicate window.
3. **Confirm**: clear ``pending_run_at`` (or delete the record after its last run).

A crash between claim and confirm leaves ``pending_run_at`` set; the next leader publishes that
run again (a duplicate the server drops) and confirms it. Missed runs (downtime, pause) merge
into one catch-up run at the latest missed due time, then the cadence resumes: never a burst.
A failed publish is counted on the record and retried with a growing delay; after
``NAQ_MAX_SCHEDULE_FAILURES`` in a row the schedule is marked failed. A stored interval below
``NAQ_MIN_SCHEDULE_INTERVAL`` (written by an older producer, or by hand) is never fired: the
schedule is marked failed with the reason.

Signed jobs (``NAQ_SIGNING_KEY``): each run is a new envelope (its own id and time), so the
scheduler signs it with its own first key, but only after the record's job template verifies
against the producer's signature stored with it. A record written or changed by someone without
the key is marked failed with the reason and fires nothing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Final

import nats.js.errors
from loguru import logger

from naq.client.runtime import (
    Cadence,
    Connection,
    delete_schedule,
    interval_too_short,
    publish_jobs,
    read_schedule,
    schedules_kv,
    template_refusal,
)
from naq.protocol import JobEnvelope, MessageTooLargeError, ScheduleRecord, ScheduleStatus
from naq.protocol.subjects import schedule_run_job_id
from naq.scheduler._view import ScheduleView

__all__ = ["Firer", "run_envelope"]

_MAX_BACKOFF: Final = 60.0
"""Longest wait before a failed publish is tried again, in seconds."""

_CONFIRM_ATTEMPTS: Final = 20


def run_envelope(record: ScheduleRecord, run_at: float, now: float) -> JobEnvelope:
    """The job of the run of ``record`` due at ``run_at``."""
    job_id = record.job.job_id if record.one_off else schedule_run_job_id(record.schedule_id, run_at)
    return dataclasses.replace(record.job, job_id=job_id, enqueued_at=now)


def _claimed(record: ScheduleRecord, now: float) -> ScheduleRecord:
    """``record`` with its due (catch-up) run claimed and its next run set."""
    cadence = Cadence.of(record)
    run_at = cadence.latest_due(record.next_run_at, now)
    following = cadence.next_after(run_at)
    return dataclasses.replace(
        record,
        runs=record.runs + 1,
        last_run_at=run_at,
        next_run_at=run_at if following is None else following,
        pending_run_at=run_at,
    )


class Firer:
    """Fires due schedules for the leading scheduler; ``may_fire`` is checked before every claim."""

    def __init__(
        self,
        connection: Connection,
        view: ScheduleView,
        may_fire: Callable[[], bool],
        max_failures: int,
        poll_interval: float,
        min_interval: float,
    ) -> None:
        self.connection = connection
        self.view = view
        self.may_fire = may_fire
        self.max_failures = max_failures
        self.poll_interval = poll_interval
        self.min_interval = min_interval
        """Shortest interval fired (``NAQ_MIN_SCHEDULE_INTERVAL``); shorter ones are marked failed."""
        self.fired = 0
        """Runs published by this scheduler."""
        self._backoff: dict[str, float] = {}
        self._in_flight: set[str] = set()

    async def fire(self, record: ScheduleRecord, revision: int) -> None:
        """Claim, publish and confirm the due run of ``record`` (read at ``revision``)."""
        if record.schedule_id in self._in_flight:
            return  # our own claim, seen again while we publish it
        self._in_flight.add(record.schedule_id)
        try:
            await self._fire(record, revision)
        finally:
            self._in_flight.discard(record.schedule_id)
            # Entries of this schedule popped while it was in flight were skipped: look again
            # (unless it waits out a failure's back-off, which has its own entry).
            if record.schedule_id not in self._backoff:
                self.view.requeue(record.schedule_id)

    async def _fire(self, record: ScheduleRecord, revision: int) -> None:
        now = time.time()
        held_off = self._backoff.get(record.schedule_id)
        if held_off is not None and held_off > now:
            self.view.retry_at(record, revision, held_off)
            return
        if record.pending_run_at is None:
            if record.next_run_at > now or not self.may_fire():
                return
            too_short = None if record.interval is None else interval_too_short(record.interval, self.min_interval)
            refusal = too_short or template_refusal(self.connection.settings, record)
            if refusal is not None:
                await self._mark_failed(record, revision, refusal)
                return
            claimed = _claimed(record, now)
            kv = await schedules_kv(self.connection)
            try:
                revision = await kv.update(record.schedule_id, claimed.encode(), last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                return  # changed meanwhile (a pause, a cancel, another leader): the watch brings it
            except MessageTooLargeError as exc:
                # Stored under a larger max payload (or by hand): no claim of it fits here. Held
                # off like a failed publish, so it is tried again now and then, never in a loop.
                logger.error("schedule {} cannot be fired: {}", record.schedule_id, exc)
                until = time.time() + _MAX_BACKOFF
                self._backoff[record.schedule_id] = until
                self.view.retry_at(record, revision, until)
                return
            record = claimed
            self.view.update(record, revision)
        elif not self.may_fire():
            return
        else:
            # A claim found in the record (ours before a crash, or written into the bucket):
            # checked as well, so a record with pending_run_at set runs nothing unsigned either.
            refusal = template_refusal(self.connection.settings, record)
            if refusal is not None:
                await self._mark_failed(dataclasses.replace(record, pending_run_at=None), revision, refusal)
                return
        run_at = record.pending_run_at
        assert run_at is not None
        try:
            await publish_jobs(self.connection, [run_envelope(record, run_at, now)])
        except Exception as exc:  # any failure to publish is counted, never fatal to the loop
            await self._failed(record, revision, run_at, exc)
            return
        self._backoff.pop(record.schedule_id, None)
        self.fired += 1
        logger.debug("fired schedule {} (run due {:.3f})", record.schedule_id, run_at)
        await self._confirm(record, revision, run_at)

    async def _confirm(self, record: ScheduleRecord, revision: int, run_at: float) -> None:
        """Clear the claim of the run due at ``run_at``, or delete the record after its last run."""
        kv = await schedules_kv(self.connection)
        stored: tuple[ScheduleRecord, int] | None = (record, revision)
        for _ in range(_CONFIRM_ATTEMPTS):
            if stored is None:
                return  # cancelled meanwhile
            record, revision = stored
            if record.pending_run_at != run_at:
                return  # confirmed by someone else
            if record.runs_left == 0:
                if await delete_schedule(self.connection, record.schedule_id, revision):
                    self.view.forget(record.schedule_id, revision)
                    return
            else:
                done = dataclasses.replace(record, pending_run_at=None, failures=0, last_error=None)
                try:
                    new_revision = await kv.update(record.schedule_id, done.encode(), last=revision)
                except nats.js.errors.KeyWrongLastSequenceError:
                    pass
                else:
                    self.view.update(done, new_revision)
                    return
            stored = await read_schedule(self.connection, record.schedule_id)
        logger.warning("could not confirm run {:.3f} of schedule {}; it stays claimed", run_at, record.schedule_id)

    async def _mark_failed(self, record: ScheduleRecord, revision: int, reason: str) -> None:
        """Mark a schedule that must not fire as failed, with ``reason``; no run is claimed."""
        logger.error("schedule {} not fired and marked failed: {}", record.schedule_id, reason)
        failed = record.with_error(reason, status=ScheduleStatus.FAILED)
        kv = await schedules_kv(self.connection)
        try:
            new_revision = await kv.update(record.schedule_id, failed.encode(), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return  # changed meanwhile: the watch brings the new record, judged afresh
        self.view.update(failed, new_revision)

    async def _failed(self, record: ScheduleRecord, revision: int, run_at: float, error: Exception) -> None:
        failures = record.failures + 1
        reason = f"{type(error).__name__}: {error}"
        gave_up = failures >= self.max_failures
        updated = record.with_error(
            reason, failures=failures, status=ScheduleStatus.FAILED if gave_up else record.status
        )
        if gave_up:
            self._backoff.pop(record.schedule_id, None)
            logger.error("schedule {} failed {} times; marked failed: {}", record.schedule_id, failures, reason)
        else:
            logger.warning("could not publish a run of schedule {} (try {}): {}", record.schedule_id, failures, reason)
        kv = await schedules_kv(self.connection)
        try:
            new_revision = await kv.update(record.schedule_id, updated.encode(), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return  # changed meanwhile: the watch brings the new record, tried afresh
        except Exception as exc:  # the store may be down as well; try again later
            logger.warning("could not record the failure of schedule {}: {}", record.schedule_id, exc)
            new_revision = revision
            updated = record
        self.view.update(updated, new_revision)
        if not gave_up:
            until = time.time() + min(self.poll_interval * 2**failures, _MAX_BACKOFF)
            self._backoff[record.schedule_id] = until
            self.view.retry_at(updated, new_revision, until)
