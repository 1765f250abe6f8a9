"""``naq demo``'s screen: a live table of its jobs fed by events, then the outcome of each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich import box
from rich.table import Table
from rich.text import Text

from naq.client import EventKind, EventRecord, JobInfo
from naq.protocol import JobStatus
from naq.worker._demo_plan import SCHEDULE_RUNS, DemoJob

__all__ = ["DemoBoard"]

_EVENT_STATES = {
    EventKind.ENQUEUED: JobStatus.QUEUED,
    EventKind.SCHEDULED: JobStatus.SCHEDULED,
    EventKind.WAITING: JobStatus.WAITING,
    EventKind.RELEASED: JobStatus.QUEUED,
    EventKind.STARTED: JobStatus.RUNNING,
    EventKind.RETRYING: JobStatus.RETRYING,
    EventKind.COMPLETED: JobStatus.COMPLETED,
    EventKind.FAILED: JobStatus.FAILED,
    EventKind.CANCELLED: JobStatus.CANCELLED,
}

_TABLE_LOOK = {"title_justify": "left", "box": box.SIMPLE_HEAD, "pad_edge": False, "collapse_padding": True}
"""Light rules and one space between columns: the outcome table fits 80 columns."""

_STYLES = {
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "yellow",
    JobStatus.RETRYING: "magenta",
    JobStatus.RUNNING: "cyan",
}


@dataclass
class DemoBoard:
    """Every demo job's latest known state; schedule runs join as their events arrive."""

    jobs: list[DemoJob]
    schedule_id: str
    states: dict[str, JobStatus] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        for job in self.jobs:
            self.states.setdefault(job.job_id, JobStatus.QUEUED)

    def _is_run(self, job_id: str) -> bool:
        return job_id.startswith(f"{self.schedule_id}-r")

    def runs_seen(self) -> int:
        """Runs of the schedule seen so far (they join the board as their events arrive)."""
        return sum(1 for job in self.jobs if self._is_run(job.job_id))

    def apply(self, event: EventRecord) -> None:
        """Move the jobs an event is about to the state it announces (a terminal state stays)."""
        state = _EVENT_STATES.get(event.kind)  # type: ignore[call-overload]
        if state is None:
            return
        for job_id in event.job_ids:
            if job_id not in self.states:
                if not self._is_run(job_id):
                    continue  # not one of the demo's jobs
                run = self.runs_seen() + 1
                self.jobs.append(DemoJob(f"every 1s {run}/{SCHEDULE_RUNS}", "tick()", JobStatus.COMPLETED, job_id))
            self.set_state(job_id, state)
            if state is JobStatus.RETRYING:
                self.retries[job_id] = self.retries.get(job_id, 0) + 1

    def set_state(self, job_id: str, state: JobStatus) -> None:
        """Record ``state`` unless the job already ended."""
        if not self.states.get(job_id, JobStatus.QUEUED).is_terminal:
            self.states[job_id] = state

    def unfinished(self) -> list[str]:
        """Ids of the jobs that have not ended."""
        return [job.job_id for job in self.jobs if not self.states[job.job_id].is_terminal]

    def done(self) -> bool:
        """Every job ended, and every run of the schedule was seen and ended."""
        return self.runs_seen() >= SCHEDULE_RUNS and not self.unfinished()

    def live_table(self) -> Table:
        """The table shown while the demo runs."""
        total = len(self.jobs) + max(SCHEDULE_RUNS - self.runs_seen(), 0)  # runs not fired yet count as to come
        ended = len(self.jobs) - len(self.unfinished())
        title = f"naq demo: {ended}/{total} jobs ended, {time.monotonic() - self.began:.1f} s"
        table = Table(title=title, **_TABLE_LOOK)
        table.add_column("job")
        table.add_column("function")
        table.add_column("state")
        table.add_column("retries", justify="right")
        for job in self.jobs:
            state = self.states[job.job_id]
            retries = self.retries.get(job.job_id, 0)
            table.add_row(job.label, job.function, Text(str(state), _STYLES.get(state, "")), str(retries or ""))
        return table

    def outcome_table(self, infos: dict[str, JobInfo]) -> Table:
        """Each job's outcome as stored: result or error, attempts, time of its last attempt."""
        table = Table(title="outcome of every demo job", **_TABLE_LOOK)
        for column in ("job", "function", "status", "result or error", "attempts", "time"):
            table.add_column(column, justify="right" if column in ("attempts", "time") else "left")
        for job in self.jobs:
            info = infos[job.job_id]
            table.add_row(
                job.label,
                job.function,
                Text(str(info.status), _STYLES.get(info.status, "")),
                _outcome(info),
                str(info.attempts),
                _took(info),
            )
        return table

    def surprises(self, infos: dict[str, JobInfo]) -> list[str]:
        """What did not end as the demo expects (empty when everything did)."""
        missing = SCHEDULE_RUNS - self.runs_seen()
        found = [f"{missing} run(s) of the schedule never came"] if missing > 0 else []
        for job in self.jobs:
            status = infos[job.job_id].status
            if status is not job.expect:
                found.append(f"{job.label} ({job.function}) ended {status}, expected {job.expect}")
        return found


def _outcome(info: JobInfo) -> str:
    if info.status is JobStatus.CANCELLED:
        return "before it ran" if info.started_at is None else "while running"
    if info.error is not None:
        return f"{info.error.type.rpartition(':')[2]}: {info.error.message}"
    if info.result is not None and info.status is JobStatus.COMPLETED:
        value = info.result.value
        return value if isinstance(value, str) else repr(value)
    return ""


def _took(info: JobInfo) -> str:
    if info.started_at is None or info.finished_at is None:
        return ""
    return f"{max(info.finished_at - info.started_at, 0.0):.2f} s"
