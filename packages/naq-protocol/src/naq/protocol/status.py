"""The job status record kept in ``naq_job_status`` for states that are not terminal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id, validate_queue_name
from naq.protocol.names import JobStatus

__all__ = ["JobStatusRecord"]


@dataclass(frozen=True, slots=True)
class JobStatusRecord(Record):
    """A job's non-terminal state (waiting, retrying, cancelled, ...) and its attempts so far."""

    KIND: ClassVar[str] = "job_status"

    job_id: str
    queue: str
    status: JobStatus
    attempts: int
    updated_at: float

    def __post_init__(self) -> None:
        validate_job_id(self.job_id)
        validate_queue_name(self.queue)
        JobStatus(self.status)
        if self.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {self.attempts!r}")
        check_non_negative("updated_at", self.updated_at)
