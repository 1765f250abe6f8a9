"""Records of how jobs ended: the result record, and the dead-letter records.

A record must fit in one NATS message (the server's ``max_payload``). Those that carry an error
can be encoded within a limit (:func:`encode_fitted`): the error's message and traceback are cut
to fit, saying so. A dead-letter record of a message that is not a job keeps as much of its bytes
as fits, with the size and digest of the whole (:meth:`UndecodableMessageRecord.of_message`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import traceback as _traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.dependencies import DependencyOutcome
from naq.protocol.errors import DependencyFailedError, JobCancelledError
from naq.protocol.ids import validate_job_id, validate_queue_name
from naq.protocol.job import JobEnvelope
from naq.protocol.refs import exception_ref
from naq.protocol.serializers import SerializerName
from naq.protocol.signing import RejectReason, check_signature
from naq.protocol.sizes import json_text_size, message_size, truncate_text

__all__ = [
    "ErrorInfo",
    "FailedJobRecord",
    "ResultRecord",
    "ResultStatus",
    "UndecodableMessageRecord",
    "encode_fitted",
]

_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")

ResultStatus = Literal["completed", "failed", "cancelled"]
"""Terminal states a result record can carry."""

_DEPENDENCY_ENDED: Final = {
    DependencyOutcome.FAILED: "failed",
    DependencyOutcome.CANCELLED: "was cancelled",
    DependencyOutcome.TIMEOUT: "did not end within the job's dependency_timeout",
}


@dataclass(frozen=True, slots=True)
class ErrorInfo(Record):
    """An error as it crossed the wire: ``module:qualname`` of its type, message and traceback."""

    KIND: ClassVar[str] = "error"

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """Describe ``exc`` with its formatted traceback; ``type`` is its class's reference
        (:func:`~naq.protocol.refs.exception_ref`: a naq error's public wire name)."""
        return cls(
            type=exception_ref(type(exc)),
            message=str(exc),
            traceback="".join(_traceback.format_exception(exc)),
        )

    @classmethod
    def cancelled(cls, job_id: str) -> ErrorInfo:
        """The error of a cancelled job: ``JobCancelledError``."""
        return cls(type=exception_ref(JobCancelledError), message=f"job {job_id} was cancelled")

    @classmethod
    def dependency_failed(cls, job_id: str, dependency: str, outcome: DependencyOutcome) -> ErrorInfo:
        """The error of a job that never ran because ``dependency`` failed, was cancelled or did
        not end in time: ``DependencyFailedError``, naming the dependency and how it ended."""
        how = _DEPENDENCY_ENDED[DependencyOutcome(outcome)]
        return cls(
            type=exception_ref(DependencyFailedError),
            message=f"dependency {dependency} {how}; job {job_id} did not run",
        )

    def fitted(self, room: int) -> ErrorInfo:
        """This error with its message and traceback cut to take at most ``room`` bytes of JSON
        text together (each cut one says so); itself if they fit.

        The message keeps at least half the room when it needs it; the traceback keeps its start
        and its end (the innermost frames and the exception line).
        """
        message, traceback = json_text_size(self.message), json_text_size(self.traceback)
        if message + traceback <= room:
            return self
        room = max(room, 0)
        message_room = min(message, max(room // 2, room - traceback))
        return ErrorInfo(
            type=self.type,
            message=truncate_text(self.message, message_room),
            traceback=truncate_text(self.traceback, room - message_room, keep_end=True),
        )


def encode_fitted(
    build: Callable[[ErrorInfo], Record], error: ErrorInfo, limit: int, headers: Mapping[str, str] | None = None
) -> bytes:
    """``build(error).encode()``, with the error cut (:meth:`ErrorInfo.fitted`) if the message,
    ``headers`` included, would be over ``limit`` bytes.

    The result may still be over ``limit`` when the rest of the record alone is: the publish
    refuses it then.
    """
    data = build(error).encode()
    if message_size(data, headers) <= limit:
        return data
    bare = message_size(build(ErrorInfo(type=error.type, message="")).encode(), headers)
    return build(error.fitted(limit - bare)).encode()


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

    # One constructor per way a job ends, used by the worker, cancel_job and test mode alike, so a
    # failure is recorded the same wherever it happens.

    @classmethod
    def completed(
        cls,
        job: JobEnvelope,
        value: Any,
        *,
        attempts: int,
        started_at: float,
        worker_id: str | None,
        finished_at: float | None = None,
    ) -> ResultRecord:
        """The record of ``job`` returning ``value`` (already in its serializer's stored form) on
        attempt ``attempts``. Unchecked (:meth:`~naq.protocol.Record.trusted`): the worker's hot
        path, and every value comes from a checked job."""
        return cls.trusted(
            job_id=job.job_id,
            queue=job.queue,
            status="completed",
            attempts=attempts,
            finished_at=time.time() if finished_at is None else finished_at,
            value=value,
            serializer=job.serializer,
            started_at=started_at,
            worker_id=worker_id,
        )

    @classmethod
    def failed(
        cls,
        job: JobEnvelope,
        error: ErrorInfo | BaseException,
        *,
        attempts: int,
        started_at: float | None = None,
        worker_id: str | None = None,
    ) -> ResultRecord:
        """The record of ``job`` failing for good after ``attempts`` attempts (0: it never ran)
        with ``error`` (an exception is described with :meth:`ErrorInfo.from_exception`)."""
        info = error if isinstance(error, ErrorInfo) else ErrorInfo.from_exception(error)
        return cls(
            job_id=job.job_id,
            queue=job.queue,
            status="failed",
            attempts=attempts,
            finished_at=time.time(),
            serializer=job.serializer,
            error=info,
            started_at=started_at,
            worker_id=worker_id,
        )

    @classmethod
    def cancelled(
        cls,
        job_id: str,
        queue: str,
        *,
        serializer: SerializerName = "json",
        attempts: int = 0,
        started_at: float | None = None,
        worker_id: str | None = None,
    ) -> ResultRecord:
        """The record of job ``job_id`` cancelled after ``attempts`` attempts, with its
        ``JobCancelledError`` (:meth:`ErrorInfo.cancelled`). Takes the id and queue, not the
        job: a cancel may know no more of it."""
        return cls(
            job_id=job_id,
            queue=queue,
            status="cancelled",
            attempts=attempts,
            finished_at=time.time(),
            serializer=serializer,
            error=ErrorInfo.cancelled(job_id),
            started_at=started_at,
            worker_id=worker_id,
        )


@dataclass(frozen=True, slots=True)
class FailedJobRecord(Record):
    """A job that failed for good, kept at ``naq.failed.<queue>.<job_id>``: the whole job, so it can
    be requeued as it was, plus the error that ended it. ``signature``: the job's
    ``Naq-Signature`` as it arrived (``None``: unsigned), carried unchanged by a requeue."""

    KIND: ClassVar[str] = "failed_job"

    job: JobEnvelope
    error: ErrorInfo
    attempts: int
    failed_at: float
    worker_id: str | None = None
    signature: str | None = None

    def __post_init__(self) -> None:
        check_signature(self.signature)
        if self.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {self.attempts!r}")
        check_non_negative("failed_at", self.failed_at)


@dataclass(frozen=True, slots=True)
class UndecodableMessageRecord(Record):
    """A message on a queue subject that is not a job, kept at ``naq.failed.<queue>._raw.<seq>``.

    ``data`` is the raw payload in base64 and ``headers`` its headers. ``original_size`` (bytes)
    and ``sha256`` (hex digest) describe the whole payload; when the record would be over the
    server's max payload, ``data`` holds only the payload's first bytes (:attr:`truncated`), and
    headers that alone would not fit are left out. Records written before these two fields
    existed carry neither (``None``) and hold the whole payload. ``job_id`` is set when the
    message is a job whose dead-letter record could not hold it whole. ``reason`` says why the
    message was not run: undecodable (also for records written before the field existed), or a
    signature the worker refused (unsigned, unknown key id, bad signature); a refused job's
    ``job_id`` stays ``None``, since nothing it claims is trusted.
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
    original_size: int | None = None
    sha256: str | None = None
    reason: RejectReason = RejectReason.UNDECODABLE

    def __post_init__(self) -> None:
        validate_queue_name(self.queue)
        RejectReason(self.reason)
        if self.stream_sequence < 0:
            raise ValueError(f"stream_sequence must be >= 0, got {self.stream_sequence!r}")
        if self.job_id is not None:
            validate_job_id(self.job_id)
        check_non_negative("failed_at", self.failed_at)
        if self.original_size is not None and self.original_size < 0:
            raise ValueError(f"original_size must be >= 0, got {self.original_size!r}")
        if self.sha256 is not None and not _SHA256_HEX.fullmatch(self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")

    @property
    def truncated(self) -> bool:
        """Whether ``data`` holds less than the whole payload."""
        if self.original_size is None:
            return False
        kept = len(self.data) // 4 * 3 - self.data[-2:].count("=")
        return kept < self.original_size

    @classmethod
    def of_message(
        cls,
        *,
        queue: str,
        subject: str,
        stream_sequence: int,
        data: bytes,
        headers: dict[str, str],
        error: ErrorInfo,
        failed_at: float,
        limit: int,
        job_id: str | None = None,
        reason: RejectReason = RejectReason.UNDECODABLE,
    ) -> UndecodableMessageRecord:
        """The record of a raw message, encoded in at most ``limit`` bytes where it can be.

        Whole if it fits; else the error is cut to at most half the room left by the rest of the
        record, and the payload to what then fits (its size and digest describe the whole).
        """

        def build(kept: bytes, kept_headers: dict[str, str], kept_error: ErrorInfo) -> UndecodableMessageRecord:
            return cls(
                queue=queue,
                subject=subject,
                stream_sequence=stream_sequence,
                data=base64.b64encode(kept).decode("ascii"),
                headers=kept_headers,
                error=kept_error,
                failed_at=failed_at,
                job_id=job_id,
                original_size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                reason=reason,
            )

        whole = build(data, headers, error)
        if len(whole.encode()) <= limit:
            return whole
        blank = ErrorInfo(type=error.type, message="")
        if len(build(b"", headers, blank).encode()) > limit:
            headers = {}  # the headers alone do not fit (the message was nearly all headers)
        room = limit - len(build(b"", headers, blank).encode())
        error = error.fitted(room // 2)
        room = limit - len(build(b"", headers, error).encode())
        # base64 is plain ASCII in JSON: 4 characters for every 3 bytes kept.
        return build(data[: max(0, room) // 4 * 3], headers, error)
