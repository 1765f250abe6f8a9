"""JetStream publishes whose acknowledgements are awaited without a request per publish.

nats-py's ``js.publish`` is a full request: a fresh reply token, and an ``asyncio.wait_for`` (a
timer and a wrapper) per message. On the hot paths (a producer's bulk enqueue, a worker's result
writes) many publishes are in flight at once, so one connection keeps one reply subscription
(``<inbox>.*``), a future per publish, and one sweeper task that fails the futures whose deadline
passed. Errors are nats-py's own: ``APIError`` subclasses for a refused message,
``NoStreamResponseError`` when no stream captures the subject, ``TimeoutError`` on no answer;
naq's ``NaqConnectionError`` at once when the server refuses the publish for this user's
permissions (it drops the message and says so on the connection, not in a reply); and naq's
``MessageTooLargeError`` before sending a message the server would refuse for its size (which
would close the connection).

(``js.publish_async`` is not used: in nats-py 2.16 its future never completes when the server
refuses a message, which would hold a job's slot forever.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from typing import Any, Final

import nats.errors
import nats.js.errors
from nats.js import api

from naq.client._connection import Connection
from naq.client._connection_events import refused_error
from naq.client._measured import check_size, record_name
from naq.client._tasks import stop_tasks

__all__ = ["AckedPublisher", "check_size", "publish_acked", "record_name"]

_SWEEP_EVERY: Final = 0.25
"""Seconds between looks for publishes whose acknowledgement is overdue."""

_NO_RESPONDERS: Final = "503"

_PLAIN_ACK_KEYS: Final = frozenset({"stream", "seq", "duplicate", "domain"})


class AckedPublisher:
    """One connection's acknowledged publishes: a reply subscription and the futures waiting on it."""

    def __init__(self, connection: Connection) -> None:
        self._nc = connection.nc
        self._prefix = self._nc.new_inbox()
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[api.PubAck]] = {}
        self._subjects: dict[str, str] = {}
        """The subject of each waiting publish, to fail the ones the server refuses."""
        self._deadlines: deque[tuple[float, str]] = deque()
        self._subscription: Any = None
        self._sweeper: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        connection.closers.append(self.close)
        events = connection.events
        self._stop_listening = None if events is None else events.listen_refusals(self._refused)

    async def publish(
        self,
        subject: str,
        data: bytes,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        checked: bool = False,
    ) -> api.PubAck:
        """Publish to JetStream and return its acknowledgement (raising as ``js.publish`` would).

        ``checked``: the message was measured already (a job's, by the job publish path).
        """
        if not checked:
            check_size(self._nc, subject, data, headers)
        if self._subscription is None:
            async with self._lock:
                if self._subscription is None:
                    self._subscription = await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_reply)
        token = str(next(self._tokens))
        future: asyncio.Future[api.PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        self._subjects[token] = subject
        self._deadlines.append((time.monotonic() + timeout, token))
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="naq-ack-sweeper")
        try:
            await self._nc.publish(subject, data, reply=f"{self._prefix}.{token}", headers=headers)
        except BaseException:
            self._waiting.pop(token, None)
            self._subjects.pop(token, None)
            raise
        try:
            return await future
        finally:
            self._subjects.pop(token, None)

    def _refused(self, kind: str, subject: str, words: str) -> None:
        # A refused publish fails the publishes to that subject; a refused reply subscription, all.
        # (nats-py reports the subject in lower case.)
        for token, sent_to in list(self._subjects.items()):
            if sent_to.lower() == subject if kind == "publish" else subject.startswith(self._prefix.lower()):
                future = self._waiting.pop(token, None)
                if future is not None and not future.done():
                    future.set_exception(refused_error(words.replace(f'"{subject}"', f'"{sent_to}"')))

    async def close(self) -> None:
        """Fail the publishes still waiting and stop the sweeper (run when the connection closes).

        A sweeper left pending when its loop stops is reported at exit ("Task was destroyed").
        """
        if self._stop_listening is not None:
            self._stop_listening()
        waiting, self._waiting = self._waiting, {}
        self._subjects.clear()
        self._deadlines.clear()
        for future in waiting.values():
            if not future.done():
                future.set_exception(nats.errors.ConnectionClosedError())
        if self._sweeper is not None:
            await stop_tasks([self._sweeper])

    async def _on_reply(self, message: Any) -> None:
        future = self._waiting.pop(message.subject.rpartition(".")[2], None)
        if future is None or future.done():
            return  # answered after its deadline
        headers = message.headers or {}
        if not message.data and headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            reply = json.loads(message.data)
            if "error" in reply:
                nats.js.errors.APIError.from_error(reply["error"])  # raises the matching subclass
            future.set_result(_pub_ack(reply))
        except Exception as exc:  # a refusal, or a reply that is not JSON
            future.set_exception(exc)

    async def _sweep(self) -> None:
        deadlines = self._deadlines
        while self._waiting:
            await asyncio.sleep(_SWEEP_EVERY)
            now = time.monotonic()
            while deadlines and (deadlines[0][0] <= now or deadlines[0][1] not in self._waiting):
                _, token = deadlines.popleft()
                future = self._waiting.pop(token, None)
                if future is not None and not future.done():
                    future.set_exception(nats.errors.TimeoutError())
        deadlines.clear()


def _pub_ack(reply: dict[str, Any]) -> api.PubAck:
    # The common reply built directly: ``PubAck.from_response`` walks the dataclass fields each time.
    if reply.keys() <= _PLAIN_ACK_KEYS:
        return api.PubAck(**reply)
    return api.PubAck.from_response(reply)


async def publish_acked(
    connection: Connection,
    subject: str,
    data: bytes,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    checked: bool = False,
) -> api.PubAck:
    """Publish to JetStream on ``connection`` and await the acknowledgement (see the module docstring).

    The message is measured first (``MessageTooLargeError``) unless ``checked`` says it was.
    """
    publisher = connection.state.get("acks")
    if publisher is None:
        publisher = connection.state["acks"] = AckedPublisher(connection)
    return await publisher.publish(subject, data, headers, timeout, checked)
