"""Raw JetStream API requests: naq's resource specs are already in the API's JSON form.

A request the server refuses for this user's permissions is dropped without an answer; the server
says why on the connection (a permissions violation naming the subject), and :func:`js_api` fails
with those words at once instead of waiting out its timeout.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

import nats.errors

from naq.client._connection import Connection
from naq.client._connection_events import refused_error
from naq.protocol import JetStreamError, NaqConnectionError

__all__ = ["STREAM_NOT_FOUND", "JetStreamAPIError", "js_api", "refused_error", "unless_refused"]

STREAM_NOT_FOUND: Final = 10059
"""JetStream error code: no stream of that name."""

_API_TIMEOUT: Final = 10.0


class JetStreamAPIError(JetStreamError):
    """The JetStream API refused a request; ``code`` (also ``err_code``) is the server's ``err_code``."""

    def __init__(self, subject: str, error: dict[str, Any]) -> None:
        self.code = error.get("err_code")
        self.description = error.get("description", "")
        super().__init__(f"JetStream refused {subject}: {self.description} (error {self.code})", self.code)


async def unless_refused(connection: Connection, subject: str, call: Any) -> Any:
    """Await ``call`` (a coroutine that publishes to ``subject`` and waits for the answer), failing
    with :func:`refused_error` as soon as the server reports a permissions violation for
    ``subject`` or for a subscription to this connection's inboxes."""
    if connection.events is None:
        return await call
    return await connection.events.unless_refused(connection.nc, subject, call)


async def js_api(connection: Connection, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send ``$JS.API.<subject>`` with a JSON body and return the decoded reply (``NaqConnectionError``
    at once, with the server's words, if this user may not send it)."""
    sent = time.monotonic()
    full = f"$JS.API.{subject}"
    try:
        reply = await unless_refused(
            connection, full, connection.nc.request(full, json.dumps(body or {}).encode(), timeout=_API_TIMEOUT)
        )
    except nats.errors.NoRespondersError as exc:
        raise NaqConnectionError("the NATS server has no JetStream (start it with -js)") from exc
    except nats.errors.TimeoutError as exc:
        refusal = None if connection.events is None else connection.events.refusal_since(sent)
        if refusal is not None:
            raise refused_error(refusal) from exc
        raise NaqConnectionError(f"JetStream did not answer {subject} within {_API_TIMEOUT} s") from exc
    data = json.loads(reply.data)
    if "error" in data:
        raise JetStreamAPIError(subject, data["error"])
    return data
