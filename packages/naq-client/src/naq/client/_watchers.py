"""Live views of two buckets: the worker registry and the schedules, change by change.

Each watch holds one consumer on the bucket's stream (see :mod:`naq.client._reader`): it starts
with the last value of every key (the changes marked ``initial``), then delivers each put,
delete and expiry as it is stored. Nothing is read again per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from loguru import logger
from nats.aio.msg import Msg

from naq.client._connection import Connection, get_connection
from naq.client._reader import ReadIterator, StreamReader
from naq.client._resources import ensure_bucket
from naq.protocol import ScheduleRecord, SerializationError, Settings, WorkerHeartbeat, names, resources
from naq.protocol.resources import BucketSpec

__all__ = ["ChangeKind", "RemovalReason", "ScheduleChange", "ScheduleWatch", "WorkerChange", "WorkerWatch"]

R = TypeVar("R", WorkerHeartbeat, ScheduleRecord)
C = TypeVar("C")


class ChangeKind(StrEnum):
    """What happened to a watched key."""

    APPEARED = "appeared"
    """A key the watch had not seen holds a record (every key present when the watch starts, too)."""
    UPDATED = "updated"
    """A key the watch had seen holds a new record."""
    DISAPPEARED = "disappeared"
    """A key the watch had seen was deleted or expired."""


class RemovalReason(StrEnum):
    """Why a key disappeared."""

    DELETED = "deleted"
    """Deleted or purged by a client (a worker deregistering, a schedule cancelled or done)."""
    EXPIRED = "expired"
    """Removed by the server when its age or TTL ran out (a worker that stopped beating)."""


@dataclass(frozen=True, slots=True)
class WorkerChange:
    """One change in the worker registry (``naq_workers``)."""

    kind: ChangeKind
    worker_id: str
    heartbeat: WorkerHeartbeat
    """The new heartbeat; for ``disappeared``, the last one the watch saw."""
    at: float
    """When the change was stored (Unix seconds)."""
    initial: bool = False
    """True for the workers registered when the watch started."""
    reason: RemovalReason | None = None
    """For ``disappeared``: ``deleted`` (the worker stopped and deregistered) or ``expired`` (its
    heartbeats stopped for ``NAQ_WORKER_TTL``: it crashed or lost its connection)."""


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """One change of a schedule record (``naq_scheduled_jobs``)."""

    kind: ChangeKind
    schedule_id: str
    record: ScheduleRecord
    """The new record (``status`` says ``paused`` for a paused schedule); for ``disappeared``, the
    last one the watch saw."""
    revision: int
    """The record's revision in the bucket (the stream sequence of the change)."""
    at: float
    """When the change was stored (Unix seconds)."""
    initial: bool = False
    """True for the schedules present when the watch started."""
    reason: RemovalReason | None = None
    """For ``disappeared``: ``deleted`` (cancelled, fired for the last time, or a one-off that ran)."""


class _BucketWatch(ReadIterator[C], Generic[R, C]):
    """A watch of one naq bucket whose values are records of type ``R``; yields changes ``C``."""

    _record_type: type[R]

    def __init__(self, settings: Settings, spec: BucketSpec) -> None:
        super().__init__(self._reader)
        self._settings = settings
        self._spec = spec
        self._prefix = f"{names.KV_SUBJECT_PREFIX}.{spec.bucket}."
        self._current: dict[str, R] = {}
        self._initial_left = 0
        self._connection: Connection | None = None

    async def _reader(self) -> StreamReader:
        connection = self._connection = await get_connection(self._settings)
        await ensure_bucket(connection, self._spec)
        filters = [f"{self._prefix}>"]
        return StreamReader(connection, self._spec.stream_name, filters, {"deliver_policy": "last_per_subject"})

    async def _opened(self, reader: StreamReader, backlog: int) -> None:
        self._initial_left = backlog

    @property
    def ready(self) -> bool:
        """True once every key present when the watch started has been delivered."""
        return self._reader is not None and self._initial_left == 0

    def _item(self, message: Msg) -> C | None:
        initial = self._initial_left > 0
        if initial:
            self._initial_left = int(message.metadata.num_pending or 0)
        key = message.subject.removeprefix(self._prefix)
        at = message.metadata.timestamp.timestamp()
        revision = message.metadata.sequence.stream
        headers = message.headers or {}
        reason = _removal(headers)
        if reason is not None or not message.data:
            last = self._current.pop(key, None)
            if last is None:
                return None  # a key the watch never saw as present (a marker in the initial listing)
            reason = reason or RemovalReason.DELETED
            return self._change(ChangeKind.DISAPPEARED, key, last, revision, at, initial, reason)
        try:
            record = self._record_type.decode(message.data)
        except SerializationError as exc:
            logger.warning("skipping an unreadable record under {} in {}: {}", key, self._spec.bucket, exc)
            return None
        kind = ChangeKind.UPDATED if key in self._current else ChangeKind.APPEARED
        self._current[key] = record
        return self._change(kind, key, record, revision, at, initial, None)

    def _change(
        self,
        kind: ChangeKind,
        key: str,
        record: R,
        revision: int,
        at: float,
        initial: bool,
        reason: RemovalReason | None,
    ) -> C:
        raise NotImplementedError


def _removal(headers: dict[str, str]) -> RemovalReason | None:
    if headers.get(names.HEADER_KV_OPERATION) in names.KV_DELETE_OPERATIONS:
        return RemovalReason.DELETED
    marker = headers.get(names.HEADER_MARKER_REASON)
    if marker is None:
        return None
    # The server's own markers: MaxAge (the bucket's age or a per-key TTL ran out), Purge, Remove.
    return RemovalReason.EXPIRED if marker == "MaxAge" else RemovalReason.DELETED


class WorkerWatch(_BucketWatch[WorkerHeartbeat, WorkerChange]):
    """What :func:`naq.client.watch_workers` returns: an async iterator of :class:`WorkerChange`.

    ``async with watch_workers() as changes: async for change in changes: ...``; :attr:`workers`
    is the registry as the watch sees it now.
    """

    _record_type = WorkerHeartbeat

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, resources.workers_bucket(settings))

    @property
    def workers(self) -> dict[str, WorkerHeartbeat]:
        """The latest heartbeat of each worker the watch sees as live, by worker id (a copy)."""
        return dict(self._current)

    def _change(
        self,
        kind: ChangeKind,
        key: str,
        record: WorkerHeartbeat,
        revision: int,
        at: float,
        initial: bool,
        reason: RemovalReason | None,
    ) -> WorkerChange:
        return WorkerChange(kind, key, record, at, initial, reason)


class ScheduleWatch(_BucketWatch[ScheduleRecord, ScheduleChange]):
    """What :func:`naq.client.watch_schedules` returns: an async iterator of :class:`ScheduleChange`.

    :attr:`schedules` is every schedule (and pending one-off job) as the watch sees it now.
    """

    _record_type = ScheduleRecord

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, resources.schedules_bucket(settings))

    @property
    def schedules(self) -> dict[str, ScheduleRecord]:
        """The current record of each schedule, by schedule id (a copy)."""
        return dict(self._current)

    def _change(
        self,
        kind: ChangeKind,
        key: str,
        record: ScheduleRecord,
        revision: int,
        at: float,
        initial: bool,
        reason: RemovalReason | None,
    ) -> ScheduleChange:
        return ScheduleChange(kind, key, record, revision, at, initial, reason)
