"""The schedule record kept in ``naq_scheduled_jobs``: always JSON, never pickle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from naq.protocol._checks import check_non_negative, check_optional_positive
from naq.protocol._codec import Record
from naq.protocol.ids import validate_schedule_id
from naq.protocol.job import JobEnvelope
from naq.protocol.names import ScheduleStatus

__all__ = ["ScheduleRecord"]


@dataclass(frozen=True, slots=True)
class ScheduleRecord(Record):
    """A recurring schedule: the job to run, when, and how far it has got.

    Exactly one of ``cron`` (with optional IANA ``cron_tz``) and ``interval`` (seconds) is set.
    ``job`` is the template of every run; each run gets its own id derived from the schedule id and
    its due time. ``repeat`` of ``None`` runs forever. Times are Unix seconds (UTC).
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

    def __post_init__(self) -> None:
        validate_schedule_id(self.schedule_id)
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule needs exactly one of cron and interval")
        if self.cron is not None and not self.cron.strip():
            raise ValueError("cron must not be empty")
        if self.cron_tz is not None and self.cron is None:
            raise ValueError("cron_tz only applies to cron schedules")
        check_optional_positive("interval", self.interval)
        if self.job.serializer != "json":
            raise ValueError("a schedule's job must use the json serializer")
        if self.repeat is not None and self.repeat < 1:
            raise ValueError(f"repeat must be >= 1 or None, got {self.repeat!r}")
        if self.runs < 0 or self.failures < 0:
            raise ValueError("runs and failures must be >= 0")
        check_non_negative("next_run_at", self.next_run_at)
        check_non_negative("created_at", self.created_at)
        ScheduleStatus(self.status)
