"""What nats-py reports about one connection: why connecting failed, and when it drops and comes back.

nats-py reports each failed connect attempt to ``error_cb`` (printing tracebacks to stderr by
default, which a library must not do) and gives up only through our overall connect timeout, which
alone would say nothing but ``TimeoutError``. So the causes are kept, in words, for the error
message. After connecting, a lost connection is logged at WARNING and its return at INFO, naming
the server (without credentials); a connection closed on purpose logs nothing.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import ParseResult

import nats.errors
from loguru import logger
from nats.aio.client import Client as NATS

from naq.protocol import NaqConnectionError

__all__ = ["ConnectionEvents", "RefusalListener", "describe_connect_error", "refused_error", "refused_subject"]

RefusalListener = Callable[[str, str, str], None]
"""Called with what was refused (``publish`` or ``subscribe``), the subject (lower case, as nats-py
reports it), and the server's words."""

_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)

_MAX_CAUSES: Final = 4
"""Distinct connect failures kept for the error message (one per server, typically)."""


def describe_connect_error(error: BaseException) -> str:
    """Why a connect attempt failed, in words first: connection refused, unknown host, timed out, ..."""
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused, nothing listens there ({detail})"
    if isinstance(error, socket.gaierror):
        return f"unknown host, its name does not resolve ({detail})"
    if isinstance(error, TimeoutError | nats.errors.TimeoutError):
        return "timed out, the server did not answer"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({detail})"
    return detail


def refused_error(words: str) -> NaqConnectionError:
    """The error of a call the server refused for this user's permissions (``words``: the server's)."""
    return NaqConnectionError(f"the NATS server refused this user: {words}")


def refused_subject(text: str) -> tuple[str, str] | None:
    """``("publish" | "subscribe", subject)`` of a server's permissions violation, else ``None``.

    nats-py lowercases the server's error, so the subject is in lower case: compare it with
    :meth:`str.lower` of the subject sent."""
    match = _VIOLATION.search(text)
    if match is None:
        return None
    return ("publish" if match.group(1).lower() == "publish" else "subscribe"), match.group(2)


def server_url(url: ParseResult | None) -> str:
    """``scheme://host:port`` of a server, without any user or password in its URL."""
    if url is None:
        return "(unknown server)"
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{host}:{url.port}" if url.port else f"{url.scheme}://{host}"


class ConnectionEvents:
    """nats-py's callbacks for one connection (``error_cb``, ``disconnected_cb``, ``reconnected_cb``)."""

    def __init__(self) -> None:
        self.nc: NATS | None = None
        """The client, set once it exists (before connecting)."""
        self.causes: list[str] = []
        """Why connect attempts failed, until the first success."""
        self._server = "(unknown server)"
        self._connecting = True
        self.refused: tuple[float, str] | None = None
        """The last permissions violation the server reported (monotonic time, its words): the
        server drops a refused request without an answer, so a request that times out looks
        here for the reason."""
        self._listeners: list[RefusalListener] = []

    def connected(self) -> None:
        """The first connect succeeded: remember the server, stop collecting causes."""
        self._connecting = False
        self.causes = []
        self._server = server_url(self.nc.connected_url if self.nc is not None else None)

    async def error(self, error: Exception) -> None:
        """``error_cb``: keep the cause of a failed connect, and any permissions violation; later
        errors surface through the calls."""
        text = " ".join(str(error).split())
        if "permissions violation" in text.lower():
            words = text.removeprefix("nats: ")
            self.refused = (time.monotonic(), words)
            refused = refused_subject(words)
            if refused is not None:
                for listener in list(self._listeners):
                    listener(refused[0], refused[1], words)
        if not self._connecting:
            return
        cause = describe_connect_error(error)
        if cause not in self.causes and len(self.causes) < _MAX_CAUSES:
            self.causes.append(cause)

    def listen_refusals(self, listener: RefusalListener) -> Callable[[], None]:
        """Call ``listener`` for every permissions violation the server reports from now on, so a
        call waiting on a refused subject fails at once instead of timing out; returns the
        function that stops listening."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    async def unless_refused(self, nc: NATS, subject: str, call: Any) -> Any:
        """Await ``call`` (a coroutine that publishes to ``subject`` and waits for the answer),
        failing with :func:`refused_error` as soon as the server reports a permissions violation
        for ``subject`` or for a subscription to ``nc``'s inboxes (where the answer would come)."""
        inbox = nc.new_inbox().rpartition(".")[0].lower()
        sent_to = subject.lower()  # nats-py reports the refused subject in lower case
        refusal: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def refused(kind: str, refused_subject: str, words: str) -> None:
            ours = refused_subject == sent_to if kind == "publish" else refused_subject.startswith(inbox)
            if ours and not refusal.done():
                refusal.set_result(words)

        stop = self.listen_refusals(refused)
        task = asyncio.ensure_future(call)
        try:
            await asyncio.wait((task, refusal), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stop()
        if task.done():
            return task.result()
        task.cancel()
        # The subject as sent, not as nats-py lowercased it.
        raise refused_error(refusal.result().replace(f'"{sent_to}"', f'"{subject}"'))

    def refusal_since(self, since: float) -> str | None:
        """The server's words for a permissions violation it reported at or after ``since``
        (monotonic time), if any."""
        if self.refused is not None and self.refused[0] >= since:
            return self.refused[1]
        return None

    async def disconnected(self) -> None:
        """``disconnected_cb``: nats-py also calls it when we close the connection ourselves."""
        if self.nc is None or self.nc.is_closed:
            return
        logger.warning("NATS connection to {} lost; reconnecting", self._server)

    async def reconnected(self) -> None:
        """``reconnected_cb``: connected again, perhaps to another server of the list."""
        self._server = server_url(self.nc.connected_url if self.nc is not None else None)
        logger.info("NATS connection restored: reconnected to {}", self._server)
