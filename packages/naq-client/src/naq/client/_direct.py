"""Reading stored messages without a consumer: subject listings and batched direct gets.

Every one-shot read of the read API goes through here, so none of them creates a JetStream
consumer (NATS caps a stream at 1,000; a consumer per read fails a busy dashboard):

- :func:`subject_counts` and :func:`subject_total` ask ``STREAM.INFO`` for the subjects matching
  a filter (the count alone, without the list, by asking for a page past the end);
- :func:`last_messages` reads the last message of every subject matching a filter with
  ``DIRECT.GET`` batches (``multi_last``, ADR-31, nats-server >= 2.11), a few requests for a
  whole bucket rather than one per key. It needs a stream with direct gets allowed (every naq
  bucket, and the dead-letter stream).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import nats.errors

from naq.client._connection import Connection
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
from naq.client._resources import ensure_bucket
from naq.protocol import NaqConnectionError, names
from naq.protocol.resources import BucketSpec

__all__ = [
    "StoredMessage",
    "bucket_values",
    "last_messages",
    "message_get",
    "parse_time",
    "subject_counts",
    "subject_total",
]

_TIMEOUT: Final = 10.0
"""Seconds to wait for each reply of a direct get batch."""

_BATCH: Final = 256
"""Messages per direct get reply batch."""

_BATCH_BYTES: Final = 8 * 1024**2
"""Bytes per direct get reply batch (dead-letter records can be up to the server's max payload)."""

_MULTI_LAST_LIMIT: Final = 1024
"""Most subjects one ``multi_last`` get may match (the server answers 413 beyond)."""

_SUBJECTS_PER_REQUEST: Final = 512
"""Literal subjects per ``multi_last`` request when a filter matched too many subjects."""

_SUBJECTS_PAGE: Final = 100_000
"""Subjects per page of a ``STREAM.INFO`` subject listing (the server's page size)."""

_PAST_THE_END: Final = 2**62
"""A ``STREAM.INFO`` offset past any listing: the reply carries the total and no subjects."""

_MAX_PAGES: Final = 10_000
"""Bound of every paging loop here."""

_MARKERS: Final = (names.HEADER_KV_OPERATION, names.HEADER_MARKER_REASON)

_NO_MESSAGE: Final = 10037
"""JetStream error code: no message matches the get."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as a stream keeps it."""

    subject: str
    sequence: int
    time: float
    """When the stream stored it (Unix seconds)."""
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_marker(self) -> bool:
        """True for a KV delete or purge marker, or a marker the server placed (a key expired)."""
        return any(header in self.headers for header in _MARKERS)


def parse_time(value: str | None) -> float:
    """A JetStream RFC 3339 timestamp (nanoseconds, ``Z``) as Unix seconds; 0.0 if unreadable."""
    if not value:
        return 0.0
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most six fractional digits
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC).timestamp()
    except ValueError:
        return 0.0


def _header_block(raw: str | None) -> dict[str, str]:
    """The headers of a ``STREAM.MSG.GET`` reply (base64 of ``NATS/1.0`` and ``Name: value`` lines)."""
    if not raw:
        return {}
    try:
        lines = base64.b64decode(raw).decode("utf-8", "replace").split("\r\n")[1:]  # after NATS/1.0
    except (binascii.Error, ValueError):
        return {}
    pairs = (line.partition(":") for line in lines if ":" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


async def message_get(connection: Connection, stream: str, request: dict[str, Any]) -> StoredMessage | None:
    """One message of ``stream`` (``STREAM.MSG.GET``, answered by the stream leader, no consumer),
    e.g. ``{"seq": n, "next_by_subj": subject}`` or ``{"last_by_subj": subject}``; ``None`` if
    none matches or there is no such stream."""
    try:
        reply = await js_api(connection, f"STREAM.MSG.GET.{stream}", request)
    except JetStreamAPIError as exc:
        if exc.code in (_NO_MESSAGE, STREAM_NOT_FOUND):
            return None
        raise
    message = reply["message"]
    try:
        data = base64.b64decode(message.get("data") or "")
    except (binascii.Error, ValueError):
        data = b""
    return StoredMessage(
        subject=message.get("subject", ""),
        sequence=int(message.get("seq") or 0),
        time=parse_time(message.get("time")),
        data=data,
        headers=_header_block(message.get("hdrs")),
    )


async def _stream_info(connection: Connection, stream: str, body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return await js_api(connection, f"STREAM.INFO.{stream}", body)
    except JetStreamAPIError as exc:
        if exc.code == STREAM_NOT_FOUND:
            return None
        raise


async def subject_counts(connection: Connection, stream: str, filter_subject: str) -> dict[str, int]:
    """Messages per subject of ``stream`` matching ``filter_subject`` (empty if no such stream)."""
    counts: dict[str, int] = {}
    for _ in range(_MAX_PAGES):
        info = await _stream_info(connection, stream, {"subjects_filter": filter_subject, "offset": len(counts)})
        if info is None:
            return counts
        page = (info.get("state") or {}).get("subjects") or {}
        counts.update(page)
        if not page or len(counts) >= int(info.get("total") or 0):
            return counts
    return counts


async def subject_total(connection: Connection, stream: str, filter_subject: str) -> int:
    """How many subjects of ``stream`` match ``filter_subject``, without listing them."""
    info = await _stream_info(connection, stream, {"subjects_filter": filter_subject, "offset": _PAST_THE_END})
    return 0 if info is None else int(info.get("total") or 0)


async def last_messages(connection: Connection, stream: str, filter_subject: str) -> list[StoredMessage]:
    """The last message of every subject of ``stream`` matching ``filter_subject``, oldest first.

    Markers (deleted or expired KV keys) are included: see :attr:`StoredMessage.is_marker`.
    ``stream`` must allow direct gets; a missing stream reads as empty.
    """
    try:
        return await _multi_last(connection, stream, [filter_subject])
    except _TooMany:
        pass
    # More subjects than one get may match: name them (a subject listing), then get them in chunks.
    subjects = sorted(await subject_counts(connection, stream, filter_subject))
    found: list[StoredMessage] = []
    for start in range(0, len(subjects), _SUBJECTS_PER_REQUEST):
        found += await _multi_last(connection, stream, subjects[start : start + _SUBJECTS_PER_REQUEST])
    found.sort(key=lambda message: message.sequence)
    return found


async def bucket_values(connection: Connection, spec: BucketSpec, keys: str = ">") -> dict[str, StoredMessage]:
    """The current value of each key of bucket ``spec`` matching ``keys`` (a KV key filter), by
    key, oldest write first; deleted and expired keys are left out. The bucket is created if missing."""
    await ensure_bucket(connection, spec)
    prefix = f"{names.KV_SUBJECT_PREFIX}.{spec.bucket}."
    return {
        message.subject.removeprefix(prefix): message
        for message in await last_messages(connection, spec.stream_name, prefix + keys)
        if not message.is_marker and message.data
    }


class _TooMany(Exception):
    """The filter matched more subjects than one ``multi_last`` get returns."""


async def _multi_last(connection: Connection, stream: str, subjects: list[str]) -> list[StoredMessage]:
    found: list[StoredMessage] = []
    request: dict[str, Any] = {"multi_last": subjects, "batch": _BATCH, "max_bytes": _BATCH_BYTES}
    for _ in range(_MAX_PAGES):
        page, end = await _batch(connection, stream, request)
        found += page
        pending = int(end.get("Nats-Num-Pending") or 0)
        if pending == 0 or not page:
            return found
        # The next page: the same snapshot (up to the sequence the first page was cut at).
        request = {
            **request,
            "seq": page[-1].sequence + 1,
            "up_to_seq": int(end.get("Nats-UpTo-Sequence") or end.get("Nats-Last-Sequence") or 0),
        }
    return found


async def _batch(
    connection: Connection, stream: str, request: dict[str, Any]
) -> tuple[list[StoredMessage], dict[str, str]]:
    """One direct get batch: its messages and the end-of-batch status headers."""
    nc = connection.nc
    inbox = nc.new_inbox()
    subject = f"$JS.API.DIRECT.GET.{stream}"
    try:
        subscription = await nc.subscribe(inbox)
    except nats.errors.Error as exc:
        raise NaqConnectionError(f"cannot read {stream}: {exc}") from exc
    messages: list[StoredMessage] = []
    try:
        await nc.publish(subject, json.dumps(request).encode(), reply=inbox)
        for _ in range(_BATCH + 2):
            try:
                reply = await subscription.next_msg(timeout=_TIMEOUT)
            except nats.errors.TimeoutError as exc:
                raise NaqConnectionError(
                    f"JetStream did not answer a direct get on {stream} within {_TIMEOUT} s"
                ) from exc
            headers = dict(reply.headers or {})
            status = headers.get("Status")
            if status == "204":  # end of batch
                return messages, headers
            if status == "404":  # nothing matches (or no such stream)
                return messages, {}
            if status == "413":
                raise _TooMany
            if status == "503":
                raise NaqConnectionError(f"no JetStream responder for {stream} (does it allow direct gets?)")
            if status is not None:
                description = headers.get("Description", "")
                raise JetStreamAPIError(subject, {"err_code": int(status), "description": description})
            messages.append(_stored(headers, reply.data))
        raise NaqConnectionError(f"a direct get on {stream} sent more than its batch")
    except nats.errors.Error as exc:  # closed, or a publish buffer full while reconnecting
        raise NaqConnectionError(f"cannot read {stream}: {exc}") from exc
    finally:
        with contextlib.suppress(nats.errors.Error):  # connection closed: the subscription went with it
            await subscription.unsubscribe()


def _stored(headers: dict[str, str], data: bytes) -> StoredMessage:
    subject = headers.pop("Nats-Subject", "")
    sequence = int(headers.pop("Nats-Sequence", "0") or 0)
    time = parse_time(headers.pop("Nats-Time-Stamp", None))
    for meta in ("Nats-Stream", "Nats-Num-Pending", "Nats-Last-Sequence"):
        headers.pop(meta, None)
    return StoredMessage(subject=subject, sequence=sequence, time=time, data=data or b"", headers=headers)
