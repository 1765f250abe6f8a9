"""Records of how jobs ended: the result record, and the dead-letter records."""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id, validate_queue_name
from naq.protocol.job import JobEnvelope
from naq.protocol.serializers import SerializerName

__all__ = ["ErrorInfo", "FailedJobRecord", "ResultRecord", "ResultStatus", "UndecodableMessageRecord"]

ResultStatus = Literal["completed", "failed", "cancelled"]
"""Terminal states a result record can carry."""


@dataclass(frozen=True, slots=True)
class ErrorInfo(Record):
    """An error as it crossed the wire: ``module:qualname`` of its type, message and traceback."""

    KIND: ClassVar[str] = "error"

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """Describe ``exc`` with its formatted traceback."""
        exc_type = type(exc)
        return cls(
            type=f"{exc_type.__module__}:{exc_type.__qualname__}",
            message=str(exc),
            traceback="".join(_traceback.format_exception(exc)),
        )


@dataclass(frozen=True, slots=True)
class ResultRecord(Record):
    """What ``naq_results`` holds under a job id once the job ended.

    ``value`` is the return value in its serializer's form (JSON data, or base64 pickle);
    ``error`` is set when the status is not ``completed``. Times are Unix seconds (UTC).
    """

    KIND: ClassVar[str] = "result"

    job_id: str
    queue: str
    status: ResultStatus
    attempts: int
    finished_at: float
    value: Any = None
    serializer: SerializerName = "json"
    error: ErrorInfo | None = None
    started_at: float | None = None
    worker_id: str | None = None

    def __post_init__(self) -> None:
        validate_job_id(self.job_id)
        validate_queue_name(self.queue)
        if self.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {self.attempts!r}")
        check_non_negative("finished_at", self.finished_at)
        if self.status == "completed" and self.error is not None:
            raise ValueError("a completed result carries no error")
        if self.status != "completed" and self.error is None:
            raise ValueError(f"a {self.status} result must carry its error")


@dataclass(frozen=True, slots=True)
class FailedJobRecord(Record):
    """A job that failed for good, kept at ``naq.failed.<queue>.<job_id>``: the whole job, so it can
    be requeued as it was, plus the error that ended it."""

    KIND: ClassVar[str] = "failed_job"

    job: JobEnvelope
    error: ErrorInfo
    attempts: int
    failed_at: float
    worker_id: str | None = None

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {self.attempts!r}")
        check_non_negative("failed_at", self.failed_at)


@dataclass(frozen=True, slots=True)
class UndecodableMessageRecord(Record):
    """A message on a queue subject that is not a job, kept at ``naq.failed.<queue>._raw.<seq>``.

    ``data`` is the raw payload in base64 and ``headers`` its headers, so nothing is lost.
    """

    KIND: ClassVar[str] = "undecodable"

    queue: str
    subject: str
    stream_sequence: int
    data: str
    headers: dict[str, str]
    error: ErrorInfo
    failed_at: float
    job_id: str | None = None

    def __post_init__(self) -> None:
        validate_queue_name(self.queue)
        if self.stream_sequence < 0:
            raise ValueError(f"stream_sequence must be >= 0, got {self.stream_sequence!r}")
        if self.job_id is not None:
            validate_job_id(self.job_id)
        check_non_negative("failed_at", self.failed_at)
