"""One delivered message as the worker's pieces pass it around, and what is read off its envelope.

A :class:`Delivery` is created by the fetch loop for every message and carries where the job
stands (its attempt, whether its ``started`` event went out, a cancel request) from the processor
to the outcomes and the watcher of running jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from naq.client.runtime import Connection, publish_event
from naq.protocol import EventKind, JobEnvelope, names
from naq.protocol.context import JobContext

__all__ = ["Delivery", "announce_started", "delivery_count", "header_attempt"]


@dataclass(slots=True)
class Delivery:
    """One delivered message and where it stands."""

    message: Any
    queue: str
    started: float = 0.0
    """When the delivery arrived (monotonic clock)."""
    job_id: str | None = None
    envelope: JobEnvelope | None = None
    settling: bool = False
    """Set once the job's end is being recorded (failing for good, or its result stored): a write
    too large to store then drops the message instead of failing the job (again)."""
    attempt: int = 0
    announced: bool = False
    """Whether a ``started`` event was published (only for jobs still running after a moment)."""
    last_progress: float = 0.0
    """When the last in-progress ack was sent (monotonic clock)."""
    slot_kept: bool = False
    """Set when a timed-out sync job's thread still runs: its slot is freed when the thread ends."""
    context: JobContext | None = None
    cancel_requested: bool = False
    """Set by a cancel command while the job runs: its outcome is recorded as cancelled."""
    interruptible: bool = False
    """True while an async job function runs: a cancel command may cancel the task then."""


async def announce_started(
    connection: Connection,
    worker_id: str,
    delivery: Delivery,
    queue: str,
    job_id: str,
    started_at: float | None = None,
) -> None:
    """Publish the attempt's ``started`` event, once per delivery (a later call does nothing).

    Short successful first attempts never publish one (their ``completed`` event carries
    ``started_at``): it goes out for a retry, a failure, or a job still running after a moment.
    """
    if delivery.announced:
        return
    delivery.announced = True
    timing = {} if started_at is None else {"started_at": started_at}
    await publish_event(connection, EventKind.STARTED, queue, job_id, worker_id, attempt=delivery.attempt, **timing)


_V1_ACK_TOKENS: Final = 9
"""``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``"""


def delivery_count(message: Any) -> int:
    """How often the message was delivered, from its ack subject.

    Read on every delivery, so the common reply form is split here; nats-py's ``metadata`` also
    parses a timestamp into a datetime the hot path never needs. Other forms go through it.
    """
    tokens = (message.reply or "").split(".")
    if len(tokens) == _V1_ACK_TOKENS and tokens[1] == "ACK":
        return int(tokens[4])
    return message.metadata.num_delivered


def header_attempt(message: Any) -> int:
    """The attempt a message carries in its ``Naq-Attempt`` header (a delayed retry); 1 without one."""
    raw = (message.headers or {}).get(names.HEADER_ATTEMPT)
    if raw is None:
        return 1
    try:
        return max(1, int(raw))
    except ValueError:
        return 1
