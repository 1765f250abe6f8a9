"""nats-py's errors as naq's: the one boundary where they enter the ``NaqError`` tree.

Inside naq-client (and in the worker and scheduler, through ``naq.client.runtime``) nats-py's
errors are caught where they mean something (a compare-and-set lost, a key not found). What is
left when a public call ends is translated here, once, by :func:`public` on every public
coroutine of ``naq.client`` and by the CLI's ``run_command``:

- JetStream's errors (``nats.js.errors.Error``: ``APIError`` and its subclasses, no stream
  answering a publish) and a request nobody answered (``NoRespondersError``: a stream that is not
  there, or no JetStream) become :class:`JetStreamError`, with ``err_code`` when the server gave
  one;
- every other nats-py error (a closed or draining connection, no server, a timeout, a stale
  connection, ...) becomes :class:`NaqConnectionError`.

The nats-py error is chained as ``__cause__``. naq's own errors pass through untouched, and so
does the built-in ``TimeoutError`` of a wait that ran out (``Job.result(timeout=...)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import nats.errors
import nats.js.errors

from naq.protocol import JetStreamError, NaqConnectionError, NaqError

__all__ = ["naq_error", "public"]

P = ParamSpec("P")
T = TypeVar("T")

_CONNECTION_TROUBLE: dict[type[BaseException], str] = {
    nats.errors.ConnectionClosedError: "the NATS connection is closed",
    nats.errors.ConnectionDrainingError: "the NATS connection is draining",
    nats.errors.ConnectionReconnectingError: "the NATS connection is reconnecting",
    nats.errors.NoServersError: "no NATS server could be reached",
    nats.errors.StaleConnectionError: "the NATS connection went stale",
    nats.errors.TimeoutError: "NATS did not answer in time",
}


def naq_error(exc: nats.errors.Error) -> NaqError:
    """The naq error for nats-py error ``exc`` (the caller chains ``exc`` as its cause)."""
    if isinstance(exc, nats.js.errors.APIError):
        # nats-py builds some of its KV errors without the server's fields.
        description = getattr(exc, "description", None) or f"{type(exc).__name__}: {exc}"
        return JetStreamError(f"JetStream refused the request: {description}", getattr(exc, "err_code", None))
    if isinstance(exc, nats.js.errors.Error):
        return JetStreamError(f"JetStream failed the request: {type(exc).__name__}: {exc}")
    if isinstance(exc, nats.errors.NoRespondersError):
        return JetStreamError(f"no stream answered: a stream or bucket that is not there, or no JetStream ({exc})")
    for kind, what in _CONNECTION_TROUBLE.items():
        if isinstance(exc, kind):
            return NaqConnectionError(f"{what} ({type(exc).__name__}: {exc})")
    return NaqConnectionError(f"NATS connection error ({type(exc).__name__}: {exc})")


def public(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Mark ``func`` as a public coroutine: a nats-py error leaving it is raised as :func:`naq_error`'s."""

    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except nats.errors.Error as exc:  # every nats-py error, its JetStream ones included
            raise naq_error(exc) from exc

    return call
