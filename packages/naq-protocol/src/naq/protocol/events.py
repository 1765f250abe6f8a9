"""The event record published on ``naq_events`` (``naq.events.<queue>.<kind>``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id, validate_queue_name, validate_token, validate_worker_id
from naq.protocol.names import SYSTEM_EVENTS_TOKEN
from naq.protocol.sizes import truncate_text

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

    def fitted(self, limit: int) -> list[EventRecord]:
        """This event as events of at most ``limit`` bytes each: itself if it fits; a batch split
        in halves (each list of one entry per job split alike) until each part fits; else with its
        text values (an error) cut to share the room left. ``[]`` when not even that fits.
        """
        if len(self.encode()) <= limit:
            return [self]
        ids = self.data.get("job_ids")
        if isinstance(ids, list) and len(ids) > 1:
            half = len(ids) // 2
            parts = []
            for part in (slice(0, half), slice(half, None)):
                data = {
                    key: value[part] if isinstance(value, list) and len(value) == len(ids) else value
                    for key, value in self.data.items()
                }
                if "count" in data:
                    data["count"] = len(data["job_ids"])
                parts.extend(dataclasses.replace(self, data=data).fitted(limit))
            return parts
        texts = [key for key, value in self.data.items() if isinstance(value, str) and value]
        if not texts:
            return []
        bare = dataclasses.replace(self, data={**self.data, **dict.fromkeys(texts, "")})
        room = (limit - len(bare.encode())) // len(texts)
        if room < 0:
            return []
        cut = {key: truncate_text(self.data[key], room) for key in texts}
        fitted = dataclasses.replace(self, data={**self.data, **cut})
        return [fitted] if len(fitted.encode()) <= limit else []
