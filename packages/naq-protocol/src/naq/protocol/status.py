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
    """A job's non-terminal state (waiting, retrying, cancelled, ...) and its attempts so far.

    ``attempts`` counts failed attempts; ``crashes`` counts deliveries lost to workers that died
    while running this job alone, the only crashes charged to it (they are not failed attempts).
    ``stream_sequence`` and ``deliveries`` identify the message delivery the record was written
    for, so a worker can tell its own delayed redelivery (a retry) from one caused by a crash;
    ``isolated`` says that delivery ran alone on its worker, so a crash during it was the job's own.
    A parked job (waiting) records the dependencies it waits on (``waiting_on``) and its parking's
    ``generation``, so it can be found and cancelled.
    """

    KIND: ClassVar[str] = "job_status"

    job_id: str
    queue: str
    status: JobStatus
    attempts: int
    updated_at: float
    crashes: int = 0
    stream_sequence: int = 0
    deliveries: int = 0
    isolated: bool = False
    waiting_on: tuple[str, ...] = ()
    generation: int = 0

    def __post_init__(self) -> None:
        validate_job_id(self.job_id)
        validate_queue_name(self.queue)
        JobStatus(self.status)
        for dependency in self.waiting_on:
            validate_job_id(dependency)
        for name in ("attempts", "crashes", "stream_sequence", "deliveries", "generation"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        check_non_negative("updated_at", self.updated_at)
