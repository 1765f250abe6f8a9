"""One NATS connection per event loop and settings, shared by every naq component using them.

A connection is opened on first use and reused; no component closes it on another's behalf.
``close_connections()`` closes the current loop's connections (the sync API's loop closes its own
at interpreter exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from naq.client._connection_auth import auth_options, login_used, tls_context
from naq.client._connection_events import ConnectionEvents, describe_connect_error, is_authorization_error
from naq.client._measured import MeasuredJetStream
from naq.protocol import NaqConnectionError, Settings

__all__ = ["Connection", "close_connections", "get_connection", "open_connection"]

_PUBLISH_ASYNC_MAX_PENDING = 4000


@dataclass(eq=False)
class Connection:
    """A NATS connection, its JetStream context and naq's per-connection caches."""

    nc: NATS
    js: JetStreamContext
    settings: Settings
    ensured: set[str] = field(default_factory=set)
    """Names of streams, consumers and buckets already checked on this connection."""
    ensure_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: dict[str, Any] = field(default_factory=dict)
    """Caches of other modules (e.g. the queue stream's size), keyed by their owner."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Clean-ups of other modules (e.g. stopping a task they run for this connection), run by :meth:`close`."""
    events: ConnectionEvents | None = None
    """What nats-py reported about this connection (e.g. a permissions violation)."""

    @property
    def closed(self) -> bool:
        """True once the connection is closed for good."""
        return self.nc.is_closed

    async def close(self) -> None:
        """Flush and close the NATS connection, then run the closers (each once)."""
        if not self.nc.is_closed:
            try:
                await self.nc.close()
            except OSError:
                # The server was lost with data pending: nats-py 2.16 flushes it to the dead
                # transport and stops there, the client already marked closed. Close the socket.
                transport = getattr(self.nc, "_transport", None)
                if transport is not None:
                    transport.close()
        closers, self.closers = self.closers, []
        for closer in closers:
            await closer()


class _Client(NATS):
    """nats-py's client, but a login the server stops accepting (a password rotated, a user revoked,
    a JWT expired) is retried like a lost server instead of closing the connection for good.

    nats-py closes a connection on the server's ``-ERR 'Authorization Violation'`` and never
    reconnects: a worker or scheduler would be left logging "connection closed" forever. Retried,
    the refusal is logged once (:class:`ConnectionEvents`) and the connection comes back when the
    login works again (a credentials file is read afresh on every attempt).
    """

    async def _process_err(self, err_msg: str) -> None:
        if self.is_connected and is_authorization_error(nats.errors.Error(err_msg)):
            await self._process_op_err(nats.errors.AuthorizationError())
            return
        await super()._process_err(err_msg)

    async def _connect_to_server(self, s: Any) -> None:
        if self.is_reconnecting and self._transport is not None:
            # nats-py opens the next attempt on the same transport without closing the socket of
            # one the server refused (its login), leaking a socket per attempt until collected.
            self._transport.close()
        await super()._connect_to_server(s)


async def _connect(nc: NATS, options: dict[str, Any], events: ConnectionEvents, timeout: float) -> None:
    """``nc.connect(**options)``, ended early by a failure retrying cannot help; ``TimeoutError`` after
    ``timeout`` s (nats-py keeps retrying an initial connect: the timeout bounds the whole attempt)."""
    attempt = asyncio.ensure_future(nc.connect(**options))
    gave_up = asyncio.ensure_future(events.gave_up.wait())
    try:
        await asyncio.wait((attempt, gave_up), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gave_up.cancel()
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await attempt
    if attempt.cancelled():
        raise TimeoutError
    attempt.result()  # its error, if it failed by itself (e.g. the first attempt, not retried)


async def open_connection(settings: Settings, name: str = "naq") -> Connection:
    """Open a new connection with ``settings``; ``NaqConnectionError`` within the connect timeout,
    saying why (connection refused, unknown host, timed out, authorization failed, TLS
    verification failed, ...). A refused login or a failed TLS handshake fails at once.

    Its disconnects are logged at WARNING and reconnects at INFO, with the server's URL.
    """
    events = ConnectionEvents(login_used(settings))
    options: dict[str, Any] = {
        "servers": settings.servers,
        "name": name,
        "connect_timeout": settings.connect_timeout,
        "error_cb": events.error,
        "disconnected_cb": events.disconnected,
        "reconnected_cb": events.reconnected,
        "reconnect_time_wait": 0.5,
        "max_reconnect_attempts": -1,
        **auth_options(settings),
    }
    if settings.nats_inbox_prefix:
        options["inbox_prefix"] = settings.nats_inbox_prefix
    tls = tls_context(settings)
    if tls is not None:
        options["tls"] = tls
    nc = events.nc = _Client()
    try:
        await _connect(nc, options, events, settings.connect_timeout)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        # A cancelled connect can leave its socket open (a server that accepted but never spoke).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=settings.connect_timeout)
        shown = ", ".join(settings.servers)
        # The overall timeout hides why the attempts failed; nats-py told events.error.
        causes = events.causes if isinstance(exc, TimeoutError) and events.causes else [describe_connect_error(exc)]
        raise NaqConnectionError(
            f"cannot connect to NATS at {shown} within {settings.connect_timeout} s: {'; '.join(causes)}"
        ) from exc
    events.connected()
    js = MeasuredJetStream(nc, publish_async_max_pending=_PUBLISH_ASYNC_MAX_PENDING)
    js.events = events
    return Connection(nc=nc, js=js, settings=settings, events=events)


# Keyed by the whole Settings, not just the servers: resources are created from a connection's
# settings, so components configured differently must not share one.
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Settings, Connection]] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def get_connection(settings: Settings) -> Connection:
    """The shared connection of the running loop for ``settings``, opened on first use."""
    loop = asyncio.get_running_loop()
    connections = _by_loop.setdefault(loop, {})
    key = settings
    connection = connections.get(key)
    if connection is not None and not connection.closed:
        return connection
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        connection = connections.get(key)
        if connection is None or connection.closed:
            connection = await open_connection(settings)
            connections[key] = connection
    return connection


async def close_connections() -> None:
    """Close every shared connection of the running loop (flushing what is pending)."""
    connections = _by_loop.pop(asyncio.get_running_loop(), {})
    for connection in connections.values():
        await connection.close()
