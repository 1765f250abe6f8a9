"""One ephemeral pull consumer, without acks, read in stream order: what each open read-API
iterator (a watch, an event stream) holds, and releases when it closes.

The consumer lives in memory on one server (replicas 1), is named ``naq-read-<random>`` so an
operator can tell it from the workers' durables, and is deleted on :meth:`StreamReader.close`.
One the client forgot to close is removed by the server once no pull has reached it for
:data:`INACTIVE_THRESHOLD`. If it disappears while open (a server restart, an inactive gap), it is
created again from the message after the last one read, so nothing is skipped or repeated. A
connection that stays down longer than the settings' connect timeout ends the read with
``NaqConnectionError``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Final, Generic, Self, TypeVar

import nats.errors
import nats.js.errors
from loguru import logger
from nats.aio.msg import Msg

from naq.client._connection import Connection
from naq.client._errors import naq_error
from naq.client._jsapi import JetStreamAPIError, js_api
from naq.protocol import NaqConnectionError

__all__ = ["CONSUMER_NAME_PREFIX", "INACTIVE_THRESHOLD", "ReadIterator", "StreamReader"]

T = TypeVar("T")

CONSUMER_NAME_PREFIX: Final = "naq-read-"
"""Names of the read API's consumers start so: ``naq-read-<random hex>``."""

INACTIVE_THRESHOLD: Final = 60.0
"""Seconds after its last pull that the server deletes a read consumer nobody closed."""

_BATCH: Final = 256
"""Messages asked for per pull."""

_POLL: Final = 2.0
"""Seconds one pull waits for messages while connected (then another is sent)."""

_OFFLINE_POLL: Final = 0.5
"""Seconds between checks while the connection is down."""

_NS: Final = 1_000_000_000

_DELETE_REFUSED: Final = "read-delete-refused"
"""Key in the connection's state: streams where this user may not delete its read consumers
(docs/security.md: a monitor's user may create them, and the server deletes them when idle)."""

_MAX_RECREATIONS: Final = 5
"""Times in a row the consumer may be created again without a message in between, then the read fails."""


class StreamReader:
    """Reads ``stream`` (subjects matching ``filters``) from ``start`` on, one message at a time.

    ``start`` is the consumer's start in the JetStream API's terms, e.g. ``{"deliver_policy":
    "new"}`` or ``{"deliver_policy": "last_per_subject"}``.
    """

    def __init__(self, connection: Connection, stream: str, filters: list[str], start: dict[str, Any]) -> None:
        self._connection = connection
        self._stream = stream
        self._filters = filters
        self._start = start
        self._name: str | None = None
        self._subscription: Any = None
        self._buffer: deque[Msg] = deque()
        self._last_sequence = 0
        """Stream sequence of the last message handed out (0: none yet)."""
        self._floor = 0
        """Stream sequence before the first message the consumer was created to deliver."""
        self._closed = False
        self._recreations = 0

    async def open(self) -> int:
        """Create the consumer; returns how many messages it has to deliver at once (its backlog)."""
        if self._closed:
            raise RuntimeError("this read was closed")
        return await self._create(self._start)

    async def _create(self, start: dict[str, Any]) -> int:
        name = f"{CONSUMER_NAME_PREFIX}{secrets.token_hex(8)}"
        config: dict[str, Any] = {
            "name": name,
            "ack_policy": "none",
            "replay_policy": "instant",
            "inactive_threshold": round(INACTIVE_THRESHOLD * _NS),
            "mem_storage": True,
            "num_replicas": 1,
            **start,
        }
        if len(self._filters) == 1:
            config["filter_subject"] = self._filters[0]
        else:
            config["filter_subjects"] = list(self._filters)
        reply = await js_api(
            self._connection,
            f"CONSUMER.CREATE.{self._stream}.{name}",
            {"stream_name": self._stream, "config": config, "action": "create"},
        )
        try:
            self._subscription = await self._connection.js.pull_subscribe_bind(consumer=name, stream=self._stream)
        except nats.errors.Error as exc:
            await self._delete(name)
            raise NaqConnectionError(f"cannot read {self._stream}: {exc}") from exc
        self._name = name
        if not self._floor:
            self._floor = int((reply.get("delivered") or {}).get("stream_seq") or 0)
        return int(reply.get("num_pending") or 0)

    async def next(self) -> Msg:
        """The next message (waiting for one); ``NaqConnectionError`` if the connection is lost for good."""
        offline_since: float | None = None
        clock = asyncio.get_running_loop()
        while not self._buffer:
            if self._closed or self._subscription is None:
                raise RuntimeError("this read is not open")
            nc = self._connection.nc
            if nc.is_closed:
                raise NaqConnectionError(f"the NATS connection closed while reading {self._stream}")
            if nc.is_connected:
                offline_since = None
            else:
                offline_since = offline_since if offline_since is not None else clock.time()
                limit = self._connection.settings.connect_timeout
                if clock.time() - offline_since > limit:
                    raise NaqConnectionError(
                        f"lost the connection to NATS for over {limit} s while reading {self._stream}"
                    )
            try:
                batch = await self._subscription.fetch(_BATCH, timeout=_POLL if nc.is_connected else _OFFLINE_POLL)
            except nats.errors.TimeoutError:
                continue  # nothing new (or no answer while disconnected)
            except nats.errors.ConnectionClosedError as exc:
                raise NaqConnectionError(f"the NATS connection closed while reading {self._stream}") from exc
            except (nats.js.errors.APIError, nats.errors.NoRespondersError) as exc:
                # The consumer is gone (the server restarted, or it sat unpulled past its threshold).
                logger.debug("read consumer {} on {} lost ({}); creating it again", self._name, self._stream, exc)
                self._recreations += 1
                if self._recreations > _MAX_RECREATIONS:
                    raise NaqConnectionError(f"reading {self._stream} keeps failing: {exc}") from exc
                await self._recreate()
                continue
            except nats.errors.Error as exc:
                if self._connection.nc.is_connected:
                    raise NaqConnectionError(f"reading {self._stream} failed: {exc}") from exc
                continue  # reconnecting: the offline limit above decides
            self._buffer.extend(batch)
            self._recreations = 0
        message = self._buffer.popleft()
        self._last_sequence = message.metadata.sequence.stream
        return message

    async def _recreate(self) -> None:
        old, self._name = self._name, None
        await self._unsubscribe()
        if old is not None:
            await self._delete(old)
        self._buffer.clear()
        after = self._last_sequence or self._floor
        if after or self._start.get("deliver_policy") == "new":
            start: dict[str, Any] = {"deliver_policy": "by_start_sequence", "opt_start_seq": after + 1}
        else:
            start = self._start
        try:
            await self._create(start)
        except JetStreamAPIError as exc:
            raise NaqConnectionError(f"cannot read {self._stream} again: {exc}") from exc

    async def _unsubscribe(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is None:
            return
        try:
            await subscription.unsubscribe()
        except (nats.errors.Error, ValueError) as exc:  # the connection is closing: gone with it
            logger.debug("unsubscribing a read of {}: {}", self._stream, exc)

    async def _delete(self, name: str) -> None:
        if self._connection.nc.is_closed:
            return  # the server removes it after its inactive threshold
        refused: set[str] = self._connection.state.setdefault(_DELETE_REFUSED, set())
        if self._stream in refused:
            return  # this user may not delete consumers here (a read-only monitor): the server will
        try:
            await js_api(self._connection, f"CONSUMER.DELETE.{self._stream}.{name}")
        except (JetStreamAPIError, NaqConnectionError, nats.errors.Error) as exc:
            if "permissions violation" in str(exc).lower():
                refused.add(self._stream)  # asked once per connection, not once per read
            logger.debug("deleting read consumer {} on {}: {}", name, self._stream, exc)

    async def close(self) -> None:
        """Delete the consumer and stop reading (idempotent)."""
        if self._closed:
            return
        self._closed = True
        name, self._name = self._name, None
        await self._unsubscribe()
        self._buffer.clear()
        if name is not None:
            await self._delete(name)


class ReadIterator(Generic[T]):
    """An async iterator over one :class:`StreamReader`: ``async with`` it (or call :meth:`aclose`).

    The consumer is created on entering the block (or on the first ``__anext__``) and deleted on
    leaving it, on :meth:`aclose`, and when the read fails (``NaqConnectionError``); a cancelled
    ``__anext__`` (say, under ``asyncio.wait_for``) leaves it open. Subclasses
    turn each message into an item, or ``None`` to skip it.
    """

    def __init__(self, open_reader: Callable[[], Coroutine[Any, Any, StreamReader]]) -> None:
        self._open_reader = open_reader
        self._reader: StreamReader | None = None
        self._closed = False

    async def _opened(self, reader: StreamReader, backlog: int) -> None:
        """Called once the consumer exists, with its backlog (e.g. the keys a watch starts with)."""

    def _item(self, message: Msg) -> T | None:
        raise NotImplementedError

    async def _ensure_open(self) -> StreamReader:
        if self._closed:
            raise StopAsyncIteration
        if self._reader is None:
            try:
                reader = await self._open_reader()
            except nats.errors.Error as exc:  # the public boundary, for an iterator
                raise naq_error(exc) from exc
            try:
                backlog = await reader.open()
                await self._opened(reader, backlog)
            except BaseException as exc:
                await reader.close()
                if isinstance(exc, nats.errors.Error):
                    raise naq_error(exc) from exc
                raise
            self._reader = reader
        return self._reader

    async def __aenter__(self) -> Self:
        try:
            await self._ensure_open()
        except StopAsyncIteration:
            raise RuntimeError("this iterator was closed") from None
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        reader = await self._ensure_open()
        while True:
            try:
                message = await reader.next()
            except RuntimeError:  # closed meanwhile (by another task)
                raise StopAsyncIteration from None
            except NaqConnectionError:
                await self.aclose()
                raise
            except nats.errors.Error as exc:  # the public boundary, for an iterator
                await self.aclose()
                raise naq_error(exc) from exc
            item = self._item(message)
            if item is not None:
                return item

    async def aclose(self) -> None:
        """Stop reading and delete the consumer (idempotent)."""
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
