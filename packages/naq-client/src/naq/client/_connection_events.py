"""What nats-py reports about one connection: why connecting failed, and when it drops and comes back.

nats-py reports each failed connect attempt to ``error_cb`` (printing tracebacks to stderr by
default, which a library must not do) and gives up only through our overall connect timeout, which
alone would say nothing but ``TimeoutError``. So the causes are kept, in words, for the error
message. A refused login or a failed TLS handshake will not get better by trying again, so it ends
the connect at once (:attr:`ConnectionEvents.gave_up`) instead of retrying until the timeout.
After connecting, a lost connection is logged at WARNING and its return at INFO, naming the server
(without credentials), and a login refused on reconnecting at ERROR, once; a connection closed on
purpose logs nothing.
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

__all__ = [
    "ConnectionEvents",
    "RefusalListener",
    "describe_connect_error",
    "is_authorization_error",
    "is_final",
    "refused_error",
    "refused_subject",
]

RefusalListener = Callable[[str, str, str], None]
"""Called with what was refused (``publish`` or ``subscribe``), the subject (lower case, as nats-py
reports it), and the server's words."""

_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)

_MAX_CAUSES: Final = 4
"""Distinct connect failures kept for the error message (one per server, typically)."""


_TLS_REFUSALS: Final = {
    "CERTIFICATE_REQUIRED": "the server requires a client certificate (set NAQ_NATS_TLS_CERT and NAQ_NATS_TLS_KEY)",
    "UNKNOWN_CA": "the server does not trust the client certificate (NAQ_NATS_TLS_CERT)",
    "BAD_CERTIFICATE": "the server does not accept the client certificate (NAQ_NATS_TLS_CERT)",
}
"""OpenSSL's names of the alerts a server sends when it refuses the client's certificate."""


def is_authorization_error(error: BaseException) -> bool:
    """Whether the server refused the login (a wrong password, token, NKey or credentials file)."""
    if isinstance(error, nats.errors.AuthorizationError):
        return True
    text = str(error).lower()
    return isinstance(error, nats.errors.Error) and ("authorization violation" in text or "authentication" in text)


def is_final(error: BaseException) -> bool:
    """Whether retrying cannot help: the login was refused, or TLS failed (verification, a
    certificate the server requires or refuses)."""
    return is_authorization_error(error) or isinstance(error, ssl.SSLError)


def describe_connect_error(error: BaseException, login: str | None = None) -> str:
    """Why a connect attempt failed, in words first: connection refused, unknown host, timed out,
    authorization failed, TLS verification failed, ...; ``login`` says how naq logged in."""
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused, nothing listens there ({detail})"
    if isinstance(error, socket.gaierror):
        return f"unknown host, its name does not resolve ({detail})"
    if isinstance(error, TimeoutError | nats.errors.TimeoutError):
        return "timed out, the server did not answer"
    if is_authorization_error(error):
        used = f" with {login}" if login else ""
        return f"authorization failed, the server refused the login{used} ({detail})"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            "TLS verification failed, the server's certificate is not trusted or not for this host "
            f"(its CA is set with NAQ_NATS_TLS_CA) ({detail})"
        )
    if isinstance(error, ssl.SSLError):
        refusal = next((why for alert, why in _TLS_REFUSALS.items() if alert in str(error).upper()), None)
        return f"TLS refused: {refusal} ({detail})" if refusal else f"TLS failed ({detail})"
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

    def __init__(self, login: str | None = None) -> None:
        self.nc: NATS | None = None
        """The client, set once it exists (before connecting)."""
        self.login = login
        """How naq logs in, for the message of a refused login."""
        self.causes: list[str] = []
        """Why connect attempts failed, until the first success."""
        self.gave_up = asyncio.Event()
        """Set when a connect attempt failed in a way retrying cannot help (:func:`is_final`)."""
        self._refused_logged = False
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
            if is_authorization_error(error) and not self._refused_logged:
                # nats-py goes on reconnecting; say once why it cannot get back in.
                self._refused_logged = True
                logger.error("NATS at {} refused the login on reconnecting: {}", self._server, text)
            return
        cause = describe_connect_error(error, self.login)
        if is_final(error):
            # The reason to stop goes first: it is the one that explains the failure.
            if cause in self.causes:
                self.causes.remove(cause)
            self.causes.insert(0, cause)
            del self.causes[_MAX_CAUSES:]
            self.gave_up.set()
        elif cause not in self.causes and len(self.causes) < _MAX_CAUSES:
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
        self._refused_logged = False
        logger.info("NATS connection restored: reconnected to {}", self._server)
