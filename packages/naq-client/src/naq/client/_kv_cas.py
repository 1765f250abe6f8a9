"""Compare-and-set writes of one KV key, with a per-message TTL where wanted.

nats-py's ``kv.update`` takes no TTL, so a TTL'd compare-and-set publishes to ``$KV.<bucket>.<key>``
itself with ``Nats-Expected-Last-Subject-Sequence``; this is the one place that does.
"""

from __future__ import annotations

from typing import Final

import nats.js.errors

from naq.client._connection import Connection
from naq.protocol import names
from naq.protocol.subjects import kv_key_subject

__all__ = ["WRONG_LAST_SEQUENCE", "kv_write_if"]

WRONG_LAST_SEQUENCE: Final = frozenset({10071, 10164})
"""JetStream error codes of a compare-and-set that lost: the subject's last sequence differs."""


async def kv_write_if(
    connection: Connection,
    bucket: str,
    key: str,
    data: bytes,
    expected_revision: int,
    ttl: int | None = None,
    headers: dict[str, str] | None = None,
) -> int | None:
    """Write ``data`` to ``key`` only if its last revision is ``expected_revision`` (0: none yet).

    Returns the new revision, or ``None`` if another write came first. ``ttl`` (whole seconds)
    makes the entry expire.
    """
    all_headers = {names.HEADER_EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected_revision), **(headers or {})}
    if ttl is not None:  # capped: the server drops a message whose TTL is centuries at once
        all_headers[names.HEADER_TTL] = str(min(ttl, names.MAX_TTL))
    try:
        ack = await connection.js.publish(kv_key_subject(bucket, key), data, headers=all_headers)
    except nats.js.errors.APIError as exc:
        if exc.err_code in WRONG_LAST_SEQUENCE:
            return None
        raise
    return int(ack.seq)
