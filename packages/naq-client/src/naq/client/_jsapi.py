"""Raw JetStream API requests: naq's resource specs are already in the API's JSON form.

A request the server refuses for this user's permissions is dropped without an answer; the server
says why on the connection (a permissions violation naming the subject), and :func:`js_api` fails
with those words at once instead of waiting out its timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Final

import nats.errors

from naq.client._connection import Connection
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


def refused_error(words: str) -> NaqConnectionError:
    """The error of a call the server refused for this user's permissions (``words``: the server's)."""
    return NaqConnectionError(f"the NATS server refused this user: {words}")


async def unless_refused(connection: Connection, subject: str, call: Any) -> Any:
    """Await ``call`` (a coroutine that publishes to ``subject`` and waits for the answer), failing
    with :func:`refused_error` as soon as the server reports a permissions violation for
    ``subject`` or for a subscription to this connection's inboxes."""
    events = connection.events
    if events is None:
        return await call
    inbox = connection.nc.new_inbox().rpartition(".")[0].lower()
    sent_to = subject.lower()  # nats-py reports the refused subject in lower case
    refusal: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def refused(kind: str, refused_subject: str, words: str) -> None:
        ours = refused_subject == sent_to if kind == "publish" else refused_subject.startswith(inbox)
        if ours and not refusal.done():
            refusal.set_result(words)

    stop = events.listen_refusals(refused)
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
