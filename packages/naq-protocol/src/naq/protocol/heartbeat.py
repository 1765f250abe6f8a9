"""The worker heartbeat record kept in ``naq_workers`` under the worker id."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id, validate_queue_name, validate_worker_id
from naq.protocol.names import WorkerStatus

__all__ = ["WorkerHeartbeat"]


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat(Record):
    """What a live worker reports every heartbeat interval; it expires after ``NAQ_WORKER_TTL``."""

    KIND: ClassVar[str] = "worker"

    worker_id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    status: WorkerStatus
    concurrency: int
    started_at: float
    heartbeat_at: float
    current_jobs: tuple[str, ...] = ()
    processed: int = 0
    failed: int = 0
    version: str = ""
    processed_by_queue: dict[str, int] = field(default_factory=dict)
    """Jobs this worker completed since it started, per queue (``processed`` is their sum)."""
    failed_by_queue: dict[str, int] = field(default_factory=dict)
    """Jobs this worker failed for good (or dead-lettered undecodable) since it started, per queue
    (``failed`` is their sum); a monitor derives per-queue rates from both."""

    def __post_init__(self) -> None:
        validate_worker_id(self.worker_id)
        for queue in self.queues:
            validate_queue_name(queue)
        for job_id in self.current_jobs:
            validate_job_id(job_id)
        WorkerStatus(self.status)
        if self.pid < 0 or self.concurrency < 1 or self.processed < 0 or self.failed < 0:
            raise ValueError("pid, processed and failed must be >= 0 and concurrency >= 1")
        for counts in (self.processed_by_queue, self.failed_by_queue):
            for queue, count in counts.items():
                validate_queue_name(queue)
                if type(count) is not int or count < 0:
                    raise ValueError(f"per-queue counts must be integers >= 0, got {queue}={count!r}")
        check_non_negative("started_at", self.started_at)
        check_non_negative("heartbeat_at", self.heartbeat_at)

    def fitted(self, limit: int) -> WorkerHeartbeat:
        """This record within ``limit`` bytes where cutting its list of running jobs can do it
        (the first ids are kept; ``status`` still says busy); itself if it fits or if not even an
        empty list would (the write then refuses it)."""
        over = len(self.encode()) - limit
        if over <= 0:
            return self
        kept = list(self.current_jobs)
        while kept and over > 0:
            over -= len(kept.pop()) + 3  # the id, its quotes and its comma
        fitted = dataclasses.replace(self, current_jobs=tuple(kept))
        while kept and len(fitted.encode()) > limit:  # the estimate is a byte off at the list's end
            kept.pop()
            fitted = dataclasses.replace(self, current_jobs=tuple(kept))
        return fitted
