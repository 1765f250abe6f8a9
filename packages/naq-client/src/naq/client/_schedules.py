"""Delayed and recurring jobs, producer side: schedule records, and pausing, resuming, modifying
and cancelling them.

``enqueue_at``/``enqueue_in`` store a one-off record keyed by the job id; ``schedule`` stores a
recurring record keyed by the schedule id. A running ``naq-scheduler`` fires them. Every change
is a pure function of the stored record, applied by compare-and-set (see ``_schedule_store``), so
the firing loop never overwrites a pause, modify or cancel, and a cancelled schedule never comes
back. Inside :func:`naq.client.testing.inline_jobs` the same functions act on the runner's
in-memory schedules instead.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from naq.client._backend import backend_for
from naq.client._cadence import Cadence, check_cron, check_interval, check_repeat, parse_time
from naq.client._errors import public
from naq.client._job import Job
from naq.client._options import Callable_, JobOptions, build_envelope
from naq.protocol import (
    ConfigurationError,
    JobEnvelope,
    JobNotFoundError,
    ScheduleRecord,
    ScheduleStatus,
    Settings,
    new_job_id,
    validate_job_id,
    validate_queue_name,
    validate_schedule_id,
)
from naq.protocol.subjects import run_now_job_id

__all__ = [
    "MODIFIABLE",
    "ScheduledJob",
    "cancel_schedule",
    "check_cadence",
    "list_schedules",
    "modify_schedule",
    "new_one_off",
    "new_recurring",
    "new_schedule_id",
    "pause_schedule",
    "resume_schedule",
    "run_schedule_now",
    "scheduled_job",
    "store_schedule",
]

MODIFIABLE: Final = frozenset({"cron", "cron_tz", "interval", "repeat", "next_run"})
"""What ``modify_scheduled_job`` may change."""


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A handle on a schedule created by ``schedule()``: its id, and control of it.

    ``job_id`` is the same id (the original naq's name for it). Each run of the schedule is a job
    of its own, with an id derived from the schedule id and the run's due time.
    """

    schedule_id: str
    queue: str
    settings: Settings = field(repr=False)

    @property
    def job_id(self) -> str:
        """The schedule id, under the original naq's name."""
        return self.schedule_id

    @public
    async def info(self) -> ScheduleRecord:
        """The schedule's record as stored now; ``JobNotFoundError`` once it is gone."""
        record = await backend_for(self.settings).schedule(self.schedule_id)
        if record is None:
            raise JobNotFoundError(f"no schedule {self.schedule_id!r} (cancelled, or it ran its last run)")
        return record

    @public
    async def pause(self) -> bool:
        """Stop firing until resumed; False if the schedule is gone."""
        return await pause_schedule(self.settings, self.schedule_id)

    @public
    async def resume(self) -> bool:
        """Fire again (one catch-up run for what fell due while paused); False if it is gone."""
        return await resume_schedule(self.settings, self.schedule_id)

    @public
    async def cancel(self) -> bool:
        """Delete the schedule for good; False if it was already gone."""
        return await cancel_schedule(self.settings, self.schedule_id)

    @public
    async def modify(self, **changes: Any) -> ScheduleRecord:
        """Change ``cron``, ``cron_tz``, ``interval``, ``repeat`` or ``next_run``; the new record."""
        return await modify_schedule(self.settings, self.schedule_id, changes)

    @public
    async def run_now(self, job_id: str | None = None) -> Job:
        """Enqueue one extra run now (see :func:`naq.client.run_scheduled_job_now`); its Job."""
        return await run_schedule_now(self.settings, self.schedule_id, job_id)


# --- new records --------------------------------------------------------------------------------


def scheduled_job(
    func: Callable_, args: Sequence[Any], kwargs: Mapping[str, Any], options: JobOptions, queue: str, settings: Settings
) -> JobEnvelope:
    """The job a schedule runs: ``enqueue``'s envelope, which must use the json serializer."""
    if (options.serializer or settings.job_serializer) != "json":
        raise ConfigurationError(
            "scheduled jobs are kept as JSON records, so they need the json serializer (pass serializer='json')"
        )
    return build_envelope(func, args, kwargs, options, queue, settings)


def new_one_off(job: JobEnvelope, run_at: float) -> ScheduleRecord:
    """The record of one run of ``job`` at ``run_at`` (Unix seconds), keyed by the job's id."""
    return ScheduleRecord(schedule_id=job.job_id, job=job, next_run_at=run_at, created_at=time.time())


def check_cadence(
    cron: str | None, cron_tz: str | None, interval: float | timedelta | None, settings: Settings
) -> Cadence:
    """The cadence of a recurring schedule; errors at the call for a bad one (an interval below
    ``settings.min_schedule_interval`` included)."""
    if (cron is None) == (interval is None):
        raise ConfigurationError("schedule() needs exactly one of cron= and interval=")
    if cron_tz is not None and cron is None:
        raise ConfigurationError("cron_tz only applies to cron schedules")
    return Cadence(
        cron=None if cron is None else check_cron(cron, cron_tz),
        cron_tz=cron_tz,
        interval=None if interval is None else check_interval(interval, settings.min_schedule_interval),
    )


def new_schedule_id(schedule_id: str | None) -> str:
    """``schedule_id`` checked, or a fresh random one."""
    sid = new_job_id() if schedule_id is None else schedule_id
    try:
        return validate_schedule_id(sid)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def new_recurring(job: JobEnvelope, cadence: Cadence, repeat: int | None) -> ScheduleRecord:
    """The record of a recurring schedule of ``job`` (whose id is the schedule id); ``repeat``
    already checked (``check_repeat``)."""
    now = time.time()
    return ScheduleRecord(
        schedule_id=job.job_id,
        job=job,
        next_run_at=cadence.first_run(now),
        created_at=now,
        cron=cadence.cron,
        cron_tz=cadence.cron_tz,
        interval=cadence.interval,
        repeat=repeat,
    )


async def store_schedule(settings: Settings, record: ScheduleRecord) -> None:
    """Store a new record for the scheduler (in test mode: in the runner; one-offs run at once)."""
    await backend_for(settings).add_schedule(record)


# --- changes: pure functions of the stored record -----------------------------------------------


def _paused(record: ScheduleRecord) -> ScheduleRecord | None:
    if record.status == ScheduleStatus.PAUSED:
        return None
    return dataclasses.replace(record, status=ScheduleStatus.PAUSED)


def _resumed(record: ScheduleRecord) -> ScheduleRecord | None:
    if record.status == ScheduleStatus.ACTIVE:
        return None
    return dataclasses.replace(record, status=ScheduleStatus.ACTIVE, failures=0, last_error=None)


def _modifier(changes: Mapping[str, Any], now: float, floor: float) -> Callable[[ScheduleRecord], ScheduleRecord]:
    unknown = set(changes) - MODIFIABLE
    if unknown:
        raise ConfigurationError(
            f"cannot modify {', '.join(sorted(unknown))} of a schedule; modifiable: {', '.join(sorted(MODIFIABLE))}"
        )
    if changes.get("cron") is not None and changes.get("interval") is not None:
        raise ConfigurationError("a schedule takes one of cron= and interval=, not both")
    cron = changes.get("cron")
    interval = None if changes.get("interval") is None else check_interval(changes["interval"], floor)
    repeat = check_repeat(changes["repeat"]) if "repeat" in changes else None
    next_run = None if changes.get("next_run") is None else parse_time(changes["next_run"], "next_run")

    def modify(record: ScheduleRecord) -> ScheduleRecord:
        if record.one_off and set(changes) - {"next_run"}:
            raise ConfigurationError(f"{record.schedule_id!r} is a one-off job: only its next_run can change")
        cron_tz = changes.get("cron_tz", record.cron_tz)
        cadence = Cadence.of(record)
        if cron is not None:
            cadence = Cadence(check_cron(cron, cron_tz), cron_tz, None)
        elif interval is not None:
            if changes.get("cron_tz") is not None:
                raise ConfigurationError("cron_tz only applies to cron schedules")
            cadence = Cadence(None, None, interval)
        elif "cron_tz" in changes:
            if record.cron is None:
                raise ConfigurationError("cron_tz only applies to cron schedules")
            cadence = Cadence(check_cron(record.cron, cron_tz), cron_tz, None)
        new_repeat = record.repeat if "repeat" not in changes else repeat
        if new_repeat is not None and new_repeat <= record.runs:
            raise ConfigurationError(f"repeat={new_repeat}, but the schedule already ran {record.runs} time(s)")
        if next_run is not None:
            next_run_at = next_run
        elif cadence != Cadence.of(record):
            next_run_at = cadence.first_run(now)
        else:
            next_run_at = record.next_run_at
        return dataclasses.replace(
            record,
            cron=cadence.cron,
            cron_tz=cadence.cron_tz,
            interval=cadence.interval,
            repeat=new_repeat,
            next_run_at=next_run_at,
        )

    return modify


# --- applying changes -----------------------------------------------------------------------------


async def _apply(
    settings: Settings, schedule_id: str, change: Callable[[ScheduleRecord], ScheduleRecord | None]
) -> ScheduleRecord | None:
    validate_schedule_id(schedule_id)
    return await backend_for(settings).change_schedule(schedule_id, change)


async def pause_schedule(settings: Settings, schedule_id: str) -> bool:
    """Pause; True if the schedule exists (paused now), False if unknown."""
    return await _apply(settings, schedule_id, _paused) is not None


async def resume_schedule(settings: Settings, schedule_id: str) -> bool:
    """Resume a paused or failed schedule; True if it exists, False if unknown."""
    return await _apply(settings, schedule_id, _resumed) is not None


async def modify_schedule(settings: Settings, schedule_id: str, changes: Mapping[str, Any]) -> ScheduleRecord:
    """Apply ``changes``; the new record. ``ConfigurationError`` for a bad change, ``JobNotFoundError``
    for an unknown id."""
    record = await _apply(settings, schedule_id, _modifier(changes, time.time(), settings.min_schedule_interval))
    if record is None:
        raise JobNotFoundError(f"no schedule {schedule_id!r} to modify")
    return record


async def cancel_schedule(settings: Settings, schedule_id: str) -> bool:
    """Delete the schedule for good; True if it existed, False if unknown."""
    validate_schedule_id(schedule_id)
    return await backend_for(settings).cancel_schedule(schedule_id)


async def run_schedule_now(settings: Settings, schedule_id: str, job_id: str | None = None) -> Job:
    """Enqueue one extra run of a schedule's job now, without waiting for a scheduler; its Job.

    - **A recurring schedule**: the run is a job of its own, ``<schedule_id>-n<call time in ms>``
      (or ``job_id``, when given: the same id within the 2-minute duplicate window is one run, so
      a call retried with it cannot run twice). The schedule record is not touched: its next due
      run stays where it was, and the extra run does not count against ``repeat`` (``runs`` counts
      due runs only). A paused or failed schedule can be run now too; it stays paused or failed.
    - **A one-off job** (``enqueue_at``/``enqueue_in``): its one run moves to now, under its own
      id (the Job ``enqueue_at`` returned gets the result), and its record is removed so it does
      not run again at its time (a scheduler firing it at the same moment publishes the same
      message id, dropped as a duplicate). ``job_id`` is not allowed here.

    ``JobNotFoundError`` for an unknown schedule: never created, cancelled (a cancel deletes it),
    or past its last run. ``ValueError`` for a malformed schedule id, ``ConfigurationError`` for a
    malformed ``job_id``.
    """
    validate_schedule_id(schedule_id)
    if job_id is not None:
        try:
            validate_job_id(job_id)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
    now = time.time()
    envelope = await backend_for(settings).run_schedule_now(
        schedule_id, lambda record: _run_now_envelope(record, now, job_id)
    )
    if envelope is None:
        raise JobNotFoundError(_not_found(schedule_id))
    return Job(envelope.job_id, envelope.queue, settings)


def _not_found(schedule_id: str) -> str:
    return f"no schedule {schedule_id!r} to run now (never created, cancelled, or past its last run)"


def _run_now_envelope(record: ScheduleRecord, now: float, job_id: str | None) -> JobEnvelope:
    if record.one_off:
        if job_id is not None:
            raise ConfigurationError(f"{record.schedule_id!r} is a one-off job: it runs now under its own id")
        return dataclasses.replace(record.job, enqueued_at=now)
    run_id = run_now_job_id(record.schedule_id, now) if job_id is None else job_id
    return dataclasses.replace(record.job, job_id=run_id, enqueued_at=now)


async def list_schedules(
    settings: Settings, status: ScheduleStatus | str | None = None, queue: str | None = None
) -> list[ScheduleRecord]:
    """Every schedule (of ``queue``, in ``status``, when given), soonest first."""
    wanted = None if status is None else ScheduleStatus(status)
    if queue is not None:
        validate_queue_name(queue)
    records = await backend_for(settings).all_schedules()
    return sorted(
        (r for r in records if (wanted is None or r.status == wanted) and (queue is None or r.job.queue == queue)),
        key=lambda r: (r.next_run_at, r.schedule_id),
    )
