"""A :class:`~naq.tui.data.DataSource` of fixed records, for the monitor's snapshot tests.

Not a NATS mock: it is the app's own data-source interface, implemented in plain Python. Every
time on screen comes from :data:`AT` (the injected clock: the snapshot's ``at``, each queue's
``at``, heartbeats, schedules, failures and events are all set relative to it), so a screen
drawn from it is the same on every run. ``empty=True`` is a server with no naq queue, worker,
schedule, failure or event yet; ``unreachable=True`` a server that cannot be reached (every read
raises ``naq.client.NaqConnectionError``). Actions answer as a server would and are recorded in
:attr:`FixedSource.calls`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Final

from naq.client import (
    EventRecord,
    FailedEntry,
    JobInfo,
    JobLocation,
    JobNotFoundError,
    JobStatus,
    NaqConnectionError,
    QueueStats,
    ScheduleRecord,
    ScheduleStatus,
    WorkerHeartbeat,
)
from naq.protocol import ErrorInfo, FailedJobRecord, JobEnvelope, UndecodableMessageRecord, WorkerStatus
from naq.tui.data import Snapshot
from naq.tui.rates import QueueRates

__all__ = ["AT", "LOOKED_UP_JOB", "URL", "FixedSource", "failed_entries", "fixed_events", "fixed_snapshot"]

AT: Final = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC).timestamp()
"""The injected clock: when the fixed snapshot was read (2026-01-15 12:00:00 UTC)."""

URL: Final = "nats://127.0.0.1:4222"
"""The server the source claims to read (shown in the status bar)."""

LOOKED_UP_JOB: Final = "report-2026-01"
"""The one job id :meth:`FixedSource.job_info` knows."""

UNREACHABLE: Final = (
    f"cannot connect to NATS at {URL} within 2.0 s: connection refused (nothing listens on 127.0.0.1:4222)"
)
"""The error of every read of an unreachable source."""

_TRACEBACK: Final = """\
Traceback (most recent call last):
  File "/srv/app/reports/monthly.py", line 41, in build
    rows = warehouse.fetch(year, month)
  File "/srv/app/reports/warehouse.py", line 17, in fetch
    raise TimeoutError(f"warehouse did not answer within {limit} s")
TimeoutError: warehouse did not answer within 30 s
"""


def _job(job_id: str, queue: str, function: str, *args: object, enqueued_at: float, **kwargs: object) -> JobEnvelope:
    return JobEnvelope(
        job_id=job_id,
        queue=queue,
        function=function,
        payload={"args": list(args), "kwargs": kwargs},
        enqueued_at=enqueued_at,
        max_retries=3,
    )


def _stats(
    queue: str,
    *,
    pending: int = 0,
    in_flight: int = 0,
    redelivered: int = 0,
    delayed: int | None = 0,
    parked: int | None = 0,
    dead_lettered: int = 0,
    workers: int = 0,
    oldest_pending_at: float | None = None,
    delivered: int = 0,
    acknowledged: int = 0,
) -> QueueStats:
    return QueueStats(
        queue=queue,
        pending=pending,
        in_flight=in_flight,
        redelivered=redelivered,
        delayed=delayed,
        parked=parked,
        dead_lettered=dead_lettered,
        consumers=1,
        workers=workers,
        oldest_pending_at=oldest_pending_at,
        at=AT,
        delivered=delivered,
        acknowledged=acknowledged,
    )


def _queues() -> tuple[QueueStats, ...]:
    return (
        _stats("default", workers=2, delivered=310, acknowledged=310),
        _stats(
            "emails",
            pending=42,
            in_flight=3,
            redelivered=1,
            delayed=2,
            dead_lettered=3,
            workers=2,
            oldest_pending_at=AT - 95,
            delivered=15_230,
            acknowledged=15_180,
        ),
        _stats(
            "reports",
            pending=7,
            in_flight=1,
            delayed=None,  # more delayed messages than the scan reads: shown as "?"
            parked=4,
            dead_lettered=1,
            workers=1,
            oldest_pending_at=AT - 3_700,
            delivered=880,
            acknowledged=871,
        ),
    )


def _rates() -> dict[str, QueueRates]:
    # A minute of throughput samples with a visible shape: a rise, a peak, a dip.
    emails = tuple(float(v) for v in (4, 6, 9, 12, 15, 18, 21, 24, 22, 19, 15, 11, 8, 6, 9, 13, 17, 20, 23, 25))
    reports = tuple(float(v) for v in (0, 0, 1, 2, 1, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0, 0, 1, 1, 0, 2))
    return {
        "default": QueueRates(completed=0.0, failed=0.0, throughput=(0.0,) * 20),
        "emails": QueueRates(completed=12.5, failed=0.2, throughput=emails),
        "reports": QueueRates(completed=0.8, failed=0.0, throughput=reports),
    }


def _workers() -> tuple[WorkerHeartbeat, ...]:
    return (
        WorkerHeartbeat(
            worker_id="w-alpha",
            hostname="web-1",
            pid=4242,
            queues=("emails", "default"),
            status=WorkerStatus.BUSY,
            concurrency=4,
            started_at=AT - 7_200,
            heartbeat_at=AT - 1,
            current_jobs=("mail-0041", "mail-0042"),
            processed=1_520,
            failed=12,
            version="0.1.0",
            processed_by_queue={"emails": 1_400, "default": 120},
            failed_by_queue={"emails": 12},
        ),
        WorkerHeartbeat(
            worker_id="w-beta",
            hostname="web-2",
            pid=5151,
            queues=("reports",),
            status=WorkerStatus.IDLE,
            concurrency=2,
            started_at=AT - 3_600,
            heartbeat_at=AT - 3,
            processed=87,
            failed=1,
            version="0.1.0",
            processed_by_queue={"reports": 87},
            failed_by_queue={"reports": 1},
        ),
        # Its heartbeat lapsed 47 s ago: the snapshot lists it as lost.
        WorkerHeartbeat(
            worker_id="w-gamma",
            hostname="batch-1",
            pid=777,
            queues=("emails",),
            status=WorkerStatus.BUSY,
            concurrency=1,
            started_at=AT - 900,
            heartbeat_at=AT - 47,
            current_jobs=("mail-0007",),
            processed=310,
            failed=0,
            version="0.1.0",
            processed_by_queue={"emails": 310},
        ),
    )


def _schedules() -> tuple[ScheduleRecord, ...]:
    ping = _job("ping-health", "default", "app.health:ping", enqueued_at=AT - 86_400)
    nightly = _job("nightly-report", "reports", "app.reports.daily:build", enqueued_at=AT - 30 * 86_400)
    welcome = _job("welcome-ada", "emails", "app.mail:send_welcome", "ada@example.com", enqueued_at=AT - 600)
    digest = _job("weekly-digest", "emails", "app.mail:send_digest", enqueued_at=AT - 60 * 86_400)
    records = (
        ScheduleRecord(
            schedule_id="ping-health",
            job=ping,
            next_run_at=AT + 42,
            created_at=AT - 86_400,
            interval=300.0,
            runs=288,
            last_run_at=AT - 258,
        ),
        ScheduleRecord(
            schedule_id="welcome-ada",  # a one-off run (enqueue_at): its id is its job's
            job=welcome,
            next_run_at=AT + 2 * 3_600 + 5 * 60,
            created_at=AT - 600,
        ),
        ScheduleRecord(
            schedule_id="nightly-report",
            job=nightly,
            next_run_at=AT + 13 * 3_600,
            created_at=AT - 30 * 86_400,
            cron="0 2 * * *",
            cron_tz="Europe/Berlin",
            repeat=90,
            runs=30,
            last_run_at=AT - 11 * 3_600,
        ),
        ScheduleRecord(
            schedule_id="weekly-digest",
            job=digest,
            next_run_at=AT + 4 * 86_400 + 21 * 3_600,
            created_at=AT - 60 * 86_400,
            cron="0 9 * * 1",
            runs=8,
            last_run_at=AT - 3 * 86_400,
            status=ScheduleStatus.PAUSED,
            failures=2,
            last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        ),
    )
    return tuple(sorted(records, key=lambda r: (r.next_run_at, r.schedule_id)))


def fixed_snapshot(*, empty: bool = False) -> Snapshot:
    """The snapshot the source returns: 3 queues, 3 workers (``w-gamma`` lost), 4 schedules; or
    nothing at all (``empty``). Read at :data:`AT` either way."""
    if empty:
        return Snapshot(queues=(), workers=(), schedules=(), at=AT)
    return Snapshot(
        queues=_queues(),
        workers=_workers(),
        schedules=_schedules(),
        at=AT,
        rates=_rates(),
        lost=frozenset({"w-gamma"}),
    )


def _failed(job: JobEnvelope, error: ErrorInfo, attempts: int, failed_at: float, sequence: int) -> FailedEntry:
    record = FailedJobRecord(job=job, error=error, attempts=attempts, failed_at=failed_at, worker_id="w-alpha")
    return FailedEntry(job.job_id, job.queue, f"naq.failed.{job.queue}.{job.job_id}", sequence, record)


def failed_entries() -> tuple[FailedEntry, ...]:
    """The dead-letter queue: three failed jobs and one undecodable message, oldest first."""
    timeout = ErrorInfo("builtins:TimeoutError", "warehouse did not answer within 30 s", _TRACEBACK)
    smtp = ErrorInfo(
        "smtplib:SMTPServerDisconnected",
        "Connection unexpectedly closed",
        'Traceback (most recent call last):\n  File "/srv/app/mail.py", line 12, in send_welcome\n'
        "    smtp.send_message(message)\nsmtplib.SMTPServerDisconnected: Connection unexpectedly closed\n",
    )
    value = ErrorInfo(
        "builtins:ValueError",
        "not an e-mail address: 'bob@'",
        'Traceback (most recent call last):\n  File "/srv/app/mail.py", line 8, in send_welcome\n'
        "    check_address(to)\nValueError: not an e-mail address: 'bob@'\n",
    )
    raw = UndecodableMessageRecord(
        queue="emails",
        subject="naq.queue.emails",
        stream_sequence=9_001,
        data="bm90IGEgam9i",  # b"not a job"
        headers={},
        error=ErrorInfo("naq:SerializationError", "not a naq job envelope: invalid JSON"),
        failed_at=AT - 120,
        original_size=9,
        sha256="0" * 64,
    )
    return (
        _failed(
            _job(LOOKED_UP_JOB, "reports", "app.reports.monthly:build", 2026, 1, enqueued_at=AT - 7_300, fmt="pdf"),
            timeout,
            4,
            AT - 7_000,
            101,
        ),
        _failed(
            _job("mail-0013", "emails", "app.mail:send_welcome", "bob@", enqueued_at=AT - 2_000),
            value,
            1,
            AT - 1_900,
            102,
        ),
        _failed(
            _job("mail-0021", "emails", "app.mail:send_welcome", "eve@example.com", enqueued_at=AT - 700),
            smtp,
            4,
            AT - 300,
            103,
        ),
        FailedEntry("_raw.9001", "emails", "naq.failed.emails._raw.9001", 104, raw),
    )


def _looked_up(entry: FailedEntry) -> JobInfo:
    record = entry.record
    assert isinstance(record, FailedJobRecord)
    return JobInfo(
        job_id=LOOKED_UP_JOB,
        status=JobStatus.FAILED,
        queue="reports",
        function=record.job.function,
        attempts=record.attempts,
        enqueued_at=record.job.enqueued_at,
        started_at=AT - 7_030,
        finished_at=record.failed_at,
        run_at=None,
        worker_id=record.worker_id,
        result=None,
        error=record.error,
        dependencies={"extract-2026-01": JobStatus.COMPLETED, "load-2026-01": JobStatus.COMPLETED},
        job=record.job,
        stored_in=JobLocation.DEAD_LETTER,
        failed=entry,
    )


def fixed_events() -> tuple[EventRecord, ...]:
    """The events the log shows, oldest first (none ``started``: the log leaves those out unless
    asked)."""
    return (
        EventRecord("enqueued", "emails", AT - 4, job_id="mail-0042", data={"function": "app.mail:send_welcome"}),
        EventRecord(
            "retrying",
            "emails",
            AT - 3,
            job_id="mail-0021",
            worker_id="w-alpha",
            data={"attempt": 3, "delay": 8.0, "error": "SMTPServerDisconnected: Connection unexpectedly closed"},
        ),
        EventRecord(
            "completed",
            "emails",
            AT - 2,
            worker_id="w-alpha",
            data={"job_ids": ["mail-0039", "mail-0040", "mail-0041"]},
        ),
        EventRecord(
            "failed",
            "reports",
            AT - 1,
            job_id=LOOKED_UP_JOB,
            worker_id="w-beta",
            data={
                "function": "app.reports.monthly:build",
                "error_type": "builtins:TimeoutError",
                "error": "warehouse did not answer within 30 s",
            },
        ),
        EventRecord("completed", "default", AT, job_id="ping-0288", worker_id="w-alpha"),
    )


class FixedSource:
    """A data source of fixed records (see the module docstring); ``calls`` records each action
    as ``(method name, argument)``."""

    def __init__(self, *, empty: bool = False, unreachable: bool = False) -> None:
        self.empty = empty
        self.unreachable = unreachable
        self.calls: list[tuple[str, object]] = []
        """Every action taken, in order."""
        self.closed = False
        self._failed = () if empty else failed_entries()
        # Never set: an events() reader waits on it until its task is cancelled.
        self._no_more_events = asyncio.Event()

    @property
    def url(self) -> str:
        """The server shown in the status bar."""
        return URL

    def _reach(self) -> None:
        if self.unreachable:
            raise NaqConnectionError(UNREACHABLE)

    async def snapshot(self) -> Snapshot:
        """The fixed snapshot (or the empty one); raises when unreachable."""
        self._reach()
        return fixed_snapshot(empty=self.empty)

    async def failed_jobs(self, limit: int) -> tuple[FailedEntry, ...]:
        """The first ``limit`` fixed dead-letter records."""
        self._reach()
        return self._failed[: max(limit, 0)]

    async def job_info(self, job_id: str) -> JobInfo:
        """What naq knows about :data:`LOOKED_UP_JOB` (a failed report); no other job is known."""
        self._reach()
        if self.empty or job_id != LOOKED_UP_JOB:
            raise JobNotFoundError(f"no trace of job {job_id!r}")
        return _looked_up(self._failed[0])

    async def pause_schedule(self, schedule_id: str) -> bool:
        """Recorded; True for a known schedule."""
        return self._record("pause_schedule", schedule_id)

    async def resume_schedule(self, schedule_id: str) -> bool:
        """Recorded; True for a known schedule."""
        return self._record("resume_schedule", schedule_id)

    async def run_schedule_now(self, schedule_id: str) -> str:
        """Recorded; the run's job id."""
        self._record("run_schedule_now", schedule_id)
        return f"{schedule_id}-now"

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """Recorded; True for a known schedule."""
        return self._record("cancel_schedule", schedule_id)

    async def requeue_failed(self, entry: FailedEntry) -> str:
        """Recorded; the job's id."""
        self._reach()
        self.calls.append(("requeue_failed", entry.id))
        return entry.id

    async def delete_failed(self, entry: FailedEntry) -> None:
        """Recorded."""
        self._reach()
        self.calls.append(("delete_failed", entry.id))

    async def purge_queue(self, queue: str) -> int:
        """Recorded; how many jobs were pending on ``queue``."""
        self._reach()
        self.calls.append(("purge_queue", queue))
        return next((s.pending for s in fixed_snapshot(empty=self.empty).queues if s.queue == queue), 0)

    async def cancel_job(self, job_id: str) -> bool:
        """Recorded; False (the only known job has ended)."""
        self._reach()
        self.calls.append(("cancel_job", job_id))
        return False

    def _record(self, action: str, schedule_id: str) -> bool:
        self._reach()
        self.calls.append((action, schedule_id))
        return any(r.schedule_id == schedule_id for r in fixed_snapshot(empty=self.empty).schedules)

    async def events(
        self, queue: str | None = None, kinds: tuple[str, ...] | None = None
    ) -> AsyncIterator[EventRecord]:
        """The fixed events (of ``queue`` and ``kinds`` when given), then nothing more until the
        reader is cancelled; raises when unreachable."""
        self._reach()
        for event in () if self.empty else fixed_events():
            if (queue is None or event.queue == queue) and (kinds is None or event.kind in kinds):
                yield event
        await self._no_more_events.wait()

    async def close(self) -> None:
        """Nothing is held; noted."""
        self.closed = True
