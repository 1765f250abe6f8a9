"""Every JetStream publish measured before it is sent: payload and headers, against ``max_payload``.

nats-py checks a publish's payload alone; the server counts the header block too and, for a
message over its ``max_payload``, closes the connection (a client that reconnects and sends it
again loops). A KV ``put``, ``create`` or ``update`` adds headers of its own
(``Nats-Expected-Last-Subject-Sequence``). So naq's connections carry a :class:`MeasuredJetStream`,
whose ``publish`` (the one every KV write and JetStream publish of nats-py goes through) measures
the message as the server will and raises ``MessageTooLargeError`` naming the record and the
limit instead: every record naq writes is checked in this one place. A publish the server refuses
for this user's permissions fails at once with the server's words (``NaqConnectionError``), not
after nats-py's timeout.
"""

from __future__ import annotations

import json
from typing import Any

from nats.js import JetStreamContext, api

from naq.client._connection_events import ConnectionEvents
from naq.protocol import MessageTooLargeError, message_size

__all__ = ["MeasuredJetStream", "check_size", "record_name"]


def check_size(nc: Any, subject: str, data: bytes, headers: dict[str, str] | None) -> None:
    """``MessageTooLargeError`` if the server would refuse the message for its size (payload and
    header block, over the connected server's ``max_payload``), naming the record it carries."""
    size = message_size(data, headers)
    limit = nc.max_payload
    if size > limit:
        raise MessageTooLargeError(
            f"{record_name(data)} of {size} bytes for {subject} is over the server's max payload of {limit} bytes",
            size,
            limit,
        )


def record_name(data: bytes) -> str:
    """What ``data`` is, for an error: ``"a schedule record"`` for a naq record, else ``"a message"``.

    Read only when a message is refused, so the cost of parsing it does not matter.
    """
    try:
        kind = json.loads(data).get("record")
    except (ValueError, AttributeError):
        return "a message"
    return f"a {kind} record" if isinstance(kind, str) and kind.isidentifier() else "a message"


class MeasuredJetStream(JetStreamContext):
    """nats-py's JetStream context whose ``publish`` is measured first (see the module docstring)."""

    events: ConnectionEvents | None = None
    """The connection's events, set by naq's connection: refusals fail a publish at once."""

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> api.PubAck:
        """``JetStreamContext.publish``, refusing with ``MessageTooLargeError`` what the server would."""
        sent = dict(headers or {})
        # The headers nats-py adds itself, so the measure is the server's.
        if stream is not None:
            sent[api.Header.EXPECTED_STREAM] = stream
        if msg_ttl is not None:
            sent[api.Header.MSG_TTL] = str(int(msg_ttl))
        check_size(self._nc, subject, payload, sent or None)
        publish = super().publish(subject, payload, timeout, stream, headers, msg_ttl)
        if self.events is None:
            return await publish
        return await self.events.unless_refused(self._nc, subject, publish)
