"""Records of the scheduler: schedules in ``naq_scheduled_jobs`` and the leader lock.

Both are always JSON, never pickle: any process with access to the bucket reads them.

A schedule record grows as the scheduler fires it (run counts, times, the last error), so it is
measured at creation at its widest (:meth:`ScheduleRecord.widest`), with the last error bounded
by :data:`LAST_ERROR_BYTES`: a schedule that could be stored can always be fired and updated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from naq.protocol._checks import check_non_negative, check_optional_positive
from naq.protocol._codec import Record
from naq.protocol.ids import validate_schedule_id, validate_token
from naq.protocol.job import JobEnvelope
from naq.protocol.names import ScheduleStatus
from naq.protocol.signing import check_signature
from naq.protocol.sizes import truncate_text

__all__ = ["LAST_ERROR_BYTES", "LeaderLockRecord", "ScheduleRecord"]

LAST_ERROR_BYTES: Final = 1024
"""Most bytes of JSON text a schedule record's ``last_error`` takes (:meth:`ScheduleRecord.with_error`)."""

_WIDEST_TIME: Final = 9_999_999_999.999999
"""A Unix time with as many digits as any a record will carry (year 2286)."""


@dataclass(frozen=True, slots=True)
class ScheduleRecord(Record):
    """A schedule: the job to run, when, and how far it has got.

    At most one of ``cron`` (with optional IANA ``cron_tz``) and ``interval`` (seconds) is set;
    with neither, the record is a one-off run at ``next_run_at`` (``enqueue_at``/``enqueue_in``)
    whose run carries ``job.job_id``. A recurring schedule's runs each get their own id derived
    from the schedule id and the run's due time. ``repeat`` of ``None`` runs forever.

    ``pending_run_at`` is a run the leading scheduler has claimed (by compare-and-set of this
    record) but not yet confirmed as published; a scheduler that finds it set publishes that run
    again under the same message id, so a crash between claim and publish loses no run and the
    duplicate window drops the second copy. Times are Unix seconds (UTC).

    ``signature`` is the producer's ``Naq-Signature`` over ``job.encode()`` (the template; ``None``:
    unsigned). A scheduler that holds keys fires only a template whose signature verifies, and
    signs each run itself (a run's id and time differ from the template's).
    """

    KIND: ClassVar[str] = "schedule"

    schedule_id: str
    job: JobEnvelope
    next_run_at: float
    created_at: float
    cron: str | None = None
    cron_tz: str | None = None
    interval: float | None = None
    repeat: int | None = None
    runs: int = 0
    last_run_at: float | None = None
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    failures: int = 0
    last_error: str | None = None
    pending_run_at: float | None = None
    signature: str | None = None

    def __post_init__(self) -> None:
        validate_schedule_id(self.schedule_id)
        check_signature(self.signature)
        if self.cron is not None and self.interval is not None:
            raise ValueError("a schedule takes at most one of cron and interval (neither: one run at next_run_at)")
        if self.cron is not None and not self.cron.strip():
            raise ValueError("cron must not be empty")
        if self.cron_tz is not None and self.cron is None:
            raise ValueError("cron_tz only applies to cron schedules")
        check_optional_positive("interval", self.interval)
        if self.job.serializer != "json":
            raise ValueError("a schedule's job must use the json serializer")
        if self.repeat is not None and self.repeat < 1:
            raise ValueError(f"repeat must be >= 1 or None, got {self.repeat!r}")
        if self.one_off and self.repeat not in (None, 1):
            raise ValueError(f"a one-off run (no cron, no interval) cannot repeat, got repeat={self.repeat!r}")
        if self.one_off and self.job.job_id != self.schedule_id:
            raise ValueError("a one-off run's schedule id must be its job id")
        if self.runs < 0 or self.failures < 0:
            raise ValueError("runs and failures must be >= 0")
        check_non_negative("next_run_at", self.next_run_at)
        check_non_negative("created_at", self.created_at)
        if self.pending_run_at is not None:
            check_non_negative("pending_run_at", self.pending_run_at)
        ScheduleStatus(self.status)

    def with_error(self, error: str, **changes: Any) -> ScheduleRecord:
        """This record with ``last_error`` set to ``error`` cut to :data:`LAST_ERROR_BYTES` (and ``changes``)."""
        return dataclasses.replace(self, last_error=truncate_text(error, LAST_ERROR_BYTES), **changes)

    def widest(self) -> ScheduleRecord:
        """This record with every field the scheduler changes as wide as it can get: what a
        store must hold for the schedule's whole life (its job and cadence are the caller's)."""
        return dataclasses.replace(
            self,
            runs=10**15,
            last_run_at=_WIDEST_TIME,
            next_run_at=_WIDEST_TIME,
            pending_run_at=_WIDEST_TIME,
            failures=10**6,
            status=max(ScheduleStatus, key=len),
            last_error="x" * LAST_ERROR_BYTES,
        )

    @property
    def one_off(self) -> bool:
        """True for a single run at ``next_run_at`` (neither cron nor interval)."""
        return self.cron is None and self.interval is None

    @property
    def runs_left(self) -> int | None:
        """Runs still to fire (``None``: unlimited)."""
        total = 1 if self.one_off else self.repeat
        return None if total is None else max(total - self.runs, 0)


@dataclass(frozen=True, slots=True)
class LeaderLockRecord(Record):
    """The value of ``naq_scheduler_lock.leader_lock``: which scheduler leads, since when.

    The key carries a per-message TTL (``NAQ_SCHEDULER_LOCK_TTL``); the leader renews it by
    compare-and-set on its revision, so only the holder can extend it.
    """

    KIND: ClassVar[str] = "leader"

    instance_id: str
    hostname: str
    pid: int
    acquired_at: float
    renewed_at: float

    def __post_init__(self) -> None:
        validate_token("scheduler instance id", self.instance_id)
        if self.pid < 0:
            raise ValueError(f"pid must be >= 0, got {self.pid!r}")
        check_non_negative("acquired_at", self.acquired_at)
        check_non_negative("renewed_at", self.renewed_at)
