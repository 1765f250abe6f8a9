"""The event record published on ``naq_events`` (``naq.events.<queue>.<kind>``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id, validate_queue_name, validate_token, validate_worker_id
from naq.protocol.names import SYSTEM_EVENTS_TOKEN

__all__ = ["EventRecord"]


@dataclass(frozen=True, slots=True)
class EventRecord(Record):
    """Something that happened to a job (or, with ``queue`` ``_sys``, to the system).

    ``kind`` is an :class:`~naq.protocol.names.EventKind` or
    :class:`~naq.protocol.names.SystemEventKind` value; ``data`` holds kind-specific details such
    as the attempt number, the error or the duration. ``at`` is Unix seconds (UTC).

    One event may stand for many jobs: ``enqueued`` from ``enqueue_many`` and ``completed`` from a
    worker whose jobs finished together carry no ``job_id`` but ``data["job_ids"]`` (a batched
    ``completed`` also ``attempts``, ``started_at`` and ``durations``, one entry per id).
    :attr:`job_ids` gives the ids either way.
    """

    KIND: ClassVar[str] = "event"

    kind: str
    queue: str
    at: float
    job_id: str | None = None
    worker_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_token("event kind", self.kind)
        if self.queue != SYSTEM_EVENTS_TOKEN:
            validate_queue_name(self.queue)
        if self.job_id is not None:
            validate_job_id(self.job_id)
        if self.worker_id is not None:
            validate_worker_id(self.worker_id)
        check_non_negative("at", self.at)

    @property
    def job_ids(self) -> tuple[str, ...]:
        """The ids of the jobs this event is about: its ``job_id``, or a batch's ``data["job_ids"]``."""
        if self.job_id is not None:
            return (self.job_id,)
        ids = self.data.get("job_ids")
        if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
            return tuple(ids)
        return ()
