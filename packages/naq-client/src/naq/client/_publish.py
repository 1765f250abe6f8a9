"""The one path every publish of a job takes onto the job stream.

A job is published on its first enqueue (one or many), as a scheduled run or a run-now, as the
release of a parked dependent or its ``dependency_timeout`` message, as a requeue from the
dead-letter queue, and as a delayed retry. Each of those builds its message here, so the rules
every job publish follows live in one place:

- **the message id**: ``Nats-Msg-Id`` is the job id on a job's first publish (a retried publish is
  one job); every later publish of the same job has a derived id ``<job_id>.<purpose>.<n>``
  (:class:`naq.protocol.MessagePurpose`), because the duplicate window outlives consumption;
- **a delay** is a server-side message schedule: the job goes to ``naq.delayed.<job_id>.<n>``
  (a ``dependency_timeout``: ``naq.delayed.<job_id>.deadline``) with ``Nats-Schedule`` and
  ``Nats-Schedule-Target`` (its queue's subject);
- **the size check**: a message that carries a job is measured against the server's max payload,
  headers included, before anything is sent (``JobTooLargeError`` naming the job);
- **the signature** (``NAQ_SIGNING_KEY``, :mod:`naq.protocol.signing`): a job's first publish
  (an enqueue, a scheduler's run, a run-now) is signed here with the publisher's first key, over
  the message data exactly as sent. Every later publish carries the signature the job already
  has (kept in its parked, dead-letter or retry record), and is never signed again: whoever can
  write such a record can only replay jobs a key holder signed, never make one.

Publishes await their acknowledgement through :func:`naq.client._acks.publish_acked` (one reply
subscription per connection, no request per message), so a window of them is pipelined.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nats.js import api

from naq.client._acks import publish_acked
from naq.client._connection import Connection
from naq.client._measured import check_size, record_name
from naq.protocol import DependencyVerdict, JobEnvelope, JobTooLargeError, MessagePurpose, MessageTooLargeError, names
from naq.protocol.subjects import (
    delayed_subject,
    dependency_deadline_subject,
    derived_message_id,
    queue_subject,
    schedule_at,
)

__all__ = [
    "PUBLISH_TIMEOUT",
    "JobMessage",
    "check_job_size",
    "job_message",
    "job_signature",
    "publish_job",
    "publish_window",
    "send",
]

PUBLISH_TIMEOUT: Final = 10.0
"""Seconds a job publish waits for its acknowledgement."""

_queue_subject = functools.lru_cache(maxsize=1024)(queue_subject)
"""``queue_subject`` without checking the name again per job: an envelope's queue was checked
when the envelope was made."""


@dataclass(frozen=True, slots=True)
class JobMessage:
    """A job's publish, built and measured, ready to send."""

    envelope: JobEnvelope
    subject: str
    data: bytes
    headers: dict[str, str]

    @property
    def signature(self) -> str | None:
        """The ``Naq-Signature`` this message carries, if any."""
        return self.headers.get(names.HEADER_SIGNATURE)


def job_signature(connection: Connection, envelope: JobEnvelope) -> str | None:
    """The signature ``envelope``'s first publish through ``connection`` would carry (``None``
    without keys): for a record that keeps the job before it is published (a parked dependent, a
    schedule's job template)."""
    keys = connection.settings.keys
    return None if keys is None else keys.sign(envelope.encode())


def job_message(
    connection: Connection,
    envelope: JobEnvelope,
    purpose: MessagePurpose | None = None,
    n: int = 0,
    *,
    at: float | None = None,
    verdict: DependencyVerdict | None = None,
    attempt: int | None = None,
    signature: str | None = None,
) -> JobMessage:
    """The message that publishes ``envelope``, measured (``JobTooLargeError`` if it cannot fit).

    - ``purpose`` ``None``: the job's first publish, message id = job id. Otherwise a later one,
      message id ``<job_id>.<purpose>.<n>``: ``n`` tells apart publishes of one purpose (the
      attempt of a retry, the parking generation of a release or deadline, the dead-letter
      sequence of a requeue).
    - ``at``: a Unix time to run at, through a server-side schedule (purposes ``retry``, whose
      subject is ``naq.delayed.<job_id>.<n>``, and ``deadline``); without it the job goes
      straight to its queue.
    - ``verdict``: what is known of the job's dependencies (``Naq-Dependencies``); ``attempt``:
      the attempt this publish is for (``Naq-Attempt``; absent means 1).
    - ``signature``: on a later publish, the ``Naq-Signature`` the job already carries (``None``:
      it goes unsigned). A first publish is signed here when the connection's settings hold keys
      (``signature`` must then be ``None``: a first publish is never a carried one).
    """
    job_id = envelope.job_id
    target = _queue_subject(envelope.queue)
    if purpose is None:
        headers = {names.HEADER_MSG_ID: job_id}
    else:
        headers = {names.HEADER_MSG_ID: derived_message_id(job_id, purpose, n)}
    if at is None:
        subject = target
    else:
        subject = _delayed_subject(job_id, purpose, n)
        headers[names.HEADER_SCHEDULE] = schedule_at(at)
        headers[names.HEADER_SCHEDULE_TARGET] = target
    if verdict is not None:
        headers[names.HEADER_DEPENDENCIES] = verdict.header()
    if attempt is not None:
        headers[names.HEADER_ATTEMPT] = str(attempt)
    data = envelope.encode()
    if purpose is None:
        if signature is not None:
            raise ValueError("a job's first publish is signed by its publisher, not given a signature")
        keys = connection.settings.keys
        if keys is not None:  # unsigned jobs: this one test is all signing costs
            headers[names.HEADER_SIGNATURE] = keys.sign(data)
    elif signature is not None:
        headers[names.HEADER_SIGNATURE] = signature
    check_job_size(connection.nc, job_id, subject, data, headers)
    return JobMessage(envelope, subject, data, headers)


def _delayed_subject(job_id: str, purpose: MessagePurpose | None, n: int) -> str:
    if purpose is MessagePurpose.RETRY:
        return delayed_subject(job_id, n)
    if purpose is MessagePurpose.DEADLINE:
        return dependency_deadline_subject(job_id)
    raise ValueError(f"a job is published for later only as a retry or a dependency deadline, not {purpose!r}")


def check_job_size(nc: Any, job_id: str, subject: str, data: bytes, headers: Mapping[str, str] | None) -> None:
    """``JobTooLargeError`` naming job ``job_id`` if a message carrying it would not fit the server's
    max payload (payload and header block). For the job's own publishes (:func:`job_message`)
    and for records written with a whole job inside (a parked dependent)."""
    try:
        check_size(nc, subject, data, headers)
    except MessageTooLargeError as exc:
        kind = record_name(data)
        what = f"job {job_id} is" if kind == "a job record" else f"{kind} of job {job_id} is"
        raise JobTooLargeError(
            f"{what} {exc.size} bytes (payload and headers), over the server's max payload of "
            f"{exc.limit} bytes, so it was not enqueued; pass large data by reference (a path, a URL, "
            "an object store key)",
            exc.size,
            exc.limit,
        ) from None


async def send(connection: Connection, message: JobMessage, timeout: float = PUBLISH_TIMEOUT) -> api.PubAck:
    """Publish a built job message and await its acknowledgement (nats-py's errors on a refusal)."""
    return await publish_acked(connection, message.subject, message.data, message.headers, timeout, checked=True)


async def publish_job(
    connection: Connection,
    envelope: JobEnvelope,
    purpose: MessagePurpose | None = None,
    n: int = 0,
    *,
    at: float | None = None,
    verdict: DependencyVerdict | None = None,
    attempt: int | None = None,
    signature: str | None = None,
    timeout: float = PUBLISH_TIMEOUT,
) -> api.PubAck:
    """Publish one job (arguments as :func:`job_message`) and return its acknowledgement.

    ``ack.duplicate`` is true when JetStream dropped it as a publish it already had.
    """
    message = job_message(
        connection, envelope, purpose, n, at=at, verdict=verdict, attempt=attempt, signature=signature
    )
    return await send(connection, message, timeout)


async def publish_window(
    connection: Connection, messages: Sequence[JobMessage], timeout: float = PUBLISH_TIMEOUT
) -> list[api.PubAck | BaseException]:
    """Send built messages pipelined (all in flight at once); each one's acknowledgement or error, in order."""
    if len(messages) == 1:  # a single enqueue: no task around its one publish
        try:
            return [await send(connection, messages[0], timeout)]
        except Exception as exc:
            return [exc]
    return await asyncio.gather(
        *(publish_acked(connection, m.subject, m.data, m.headers, timeout, checked=True) for m in messages),
        return_exceptions=True,
    )
