"""Reading the event stream (``naq_events``) live, filtered by the server on subject.

Events are kept for a bounded time and size (``EVENTS_MAX_AGE``, 24 h; ``EVENTS_MAX_BYTES``), so
a read can start at new events (the default) or replay from a time within what is kept
(``since=``); either way it then follows new events until it is closed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from nats.aio.msg import Msg

from naq.client._connection import get_connection
from naq.client._reader import ReadIterator, StreamReader
from naq.client._resources import ensure_stream
from naq.protocol import (
    EventKind,
    EventRecord,
    SerializationError,
    Settings,
    SystemEventKind,
    names,
    resources,
    validate_queue_name,
)

__all__ = ["EventStream", "event_filters"]

_KINDS = frozenset({*EventKind, *SystemEventKind})


def _kinds(kinds: str | Iterable[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    wanted = [kinds] if isinstance(kinds, str) else list(kinds)
    if not wanted:
        raise ValueError("kinds must name at least one event kind (or be None for every kind)")
    for kind in wanted:
        if kind not in _KINDS:
            known = ", ".join(sorted(_KINDS))
            raise ValueError(f"unknown event kind {kind!r}; the kinds are: {known}")
    return [str(kind) for kind in dict.fromkeys(wanted)]


def event_filters(queue: str | None, kinds: str | Iterable[str] | None) -> list[str]:
    """The subject filters of the events of ``queue`` (``None``: every queue and the system
    events; ``"_sys"``: the system events alone) of ``kinds`` (``None``: every kind)."""
    if queue is not None and queue != names.SYSTEM_EVENTS_TOKEN:
        validate_queue_name(queue)
    checked = _kinds(kinds)
    token = "*" if queue is None else queue
    if checked is None:
        return [f"{names.EVENTS_PREFIX}.>"] if queue is None else [f"{names.EVENTS_PREFIX}.{token}.*"]
    return [f"{names.EVENTS_PREFIX}.{token}.{kind}" for kind in checked]


def _start(since: datetime | float | None) -> dict[str, Any]:
    if since is None:
        return {"deliver_policy": "new"}
    if isinstance(since, datetime):
        moment = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    elif isinstance(since, int | float) and not isinstance(since, bool) and math.isfinite(since) and since >= 0:
        moment = datetime.fromtimestamp(since, UTC)
    else:
        raise ValueError(f"since must be a datetime or a Unix time >= 0, got {since!r}")
    return {"deliver_policy": "by_start_time", "opt_start_time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


class EventStream(ReadIterator[EventRecord]):
    """What :func:`naq.client.events` returns: an async iterator of :class:`~naq.protocol.EventRecord`.

    ``async with events(queue="emails", kinds=["failed"]) as stream: async for event in stream:``.
    """

    def __init__(
        self,
        settings: Settings,
        queue: str | None = None,
        kinds: str | Iterable[str] | None = None,
        since: datetime | float | None = None,
    ) -> None:
        super().__init__(self._reader)
        self._settings = settings
        self._filters = event_filters(queue, kinds)  # bad input fails here, at the call
        self._start = _start(since)

    async def _reader(self) -> StreamReader:
        connection = await get_connection(self._settings)
        await ensure_stream(connection, resources.events_stream(self._settings))
        return StreamReader(connection, names.EVENTS_STREAM, self._filters, self._start)

    def _item(self, message: Msg) -> EventRecord | None:
        try:
            return EventRecord.decode(message.data)
        except SerializationError as exc:
            logger.debug("skipping an unreadable event on {}: {}", message.subject, exc)
            return None
