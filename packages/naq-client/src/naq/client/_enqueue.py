"""Jobs' first publishes: one job or many, measured first, pipelined, then announced.

``enqueue``, ``enqueue_many``, the scheduler's runs and a run-now all put new jobs on their queues
here; each message is built by the job publish path (:mod:`naq.client._publish`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

import nats.errors
import nats.js.errors

from naq.client._connection import Connection
from naq.client._dependencies import DependencyStates, decide, dependency_states, park
from naq.client._events import announce_jobs
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
from naq.client._publish import JobMessage, job_message, job_signature, publish_window
from naq.client._resources import ensure_stream
from naq.protocol import (
    DependencyVerdict,
    EventKind,
    JobEnvelope,
    JobTooLargeError,
    NaqConnectionError,
    PartialEnqueueError,
    QueueFullError,
    names,
    resources,
)

__all__ = ["publish_jobs"]

_FULLNESS_REFRESH: Final = 1.0
"""Seconds the job stream's size is cached between checks: a queue-full check is not per job."""

_PUBLISH_WINDOW: Final = 1000
"""Most job publishes awaiting their acknowledgement at once in ``enqueue_many``."""


async def _check_not_full(connection: Connection) -> None:
    settings = connection.settings
    if settings.queue_max_bytes == -1:
        return
    cache = connection.state.setdefault("fullness", {"checked": 0.0, "bytes": 0})
    now = time.monotonic()
    if now - cache["checked"] >= _FULLNESS_REFRESH:
        try:
            info = await js_api(connection, f"STREAM.INFO.{names.JOBS_STREAM}")
        except JetStreamAPIError as exc:
            if exc.code != STREAM_NOT_FOUND:
                raise
            # Deleted behind our back (an operator, a test): create it again rather than fail.
            connection.ensured.discard(names.JOBS_STREAM)
            await ensure_stream(connection, resources.jobs_stream(settings))
            info = await js_api(connection, f"STREAM.INFO.{names.JOBS_STREAM}")
        cache.update(checked=now, bytes=info["state"]["bytes"])
    if resources.queue_is_full(cache["bytes"], settings):
        raise QueueFullError(
            f"the job stream holds {cache['bytes']} bytes, at its limit NAQ_QUEUE_MAX_BYTES={settings.queue_max_bytes}"
        )


def _publish_error(exc: Exception, job_id: str) -> Exception:
    text = str(exc).lower()
    if "maximum bytes" in text or "maximum messages" in text or "insufficient" in text or "resources exceeded" in text:
        return QueueFullError(f"job {job_id} was not enqueued: the job stream is full ({exc})")
    if isinstance(exc, nats.errors.TimeoutError | nats.js.errors.NoStreamResponseError):
        return NaqConnectionError(f"job {job_id} may not have been enqueued: no acknowledgement from JetStream ({exc})")
    return exc


async def publish_jobs(connection: Connection, envelopes: Sequence[JobEnvelope]) -> None:
    """Publish jobs for the first time (message id = job id), pipelined, then their events.

    A job with ``depends_on`` goes to its queue only if its dependencies are decided (all
    completed, or one failed: the worker then fails it); otherwise it is parked until they end.

    Everything that can be checked is checked before the first publish, so a bad job enqueues
    none: the queue's fullness (``QueueFullError``) and every message's size against the server's
    max payload, headers included (``JobTooLargeError``). A publish that fails after that (the
    stream refuses a message, an acknowledgement does not come) raises the error itself for one
    job, and ``PartialEnqueueError`` for several: which were enqueued and which may not be.
    """
    await ensure_stream(connection, resources.jobs_stream(connection.settings))
    await _check_not_full(connection)
    dependents = [envelope for envelope in envelopes if envelope.depends_on]
    verdicts: dict[str, DependencyVerdict] = {}
    waiting: list[JobEnvelope] = []
    states: DependencyStates = {}
    if dependents:
        states = await dependency_states(connection, (d for envelope in dependents for d in envelope.depends_on))
        for envelope in dependents:
            verdict = decide(envelope, states)
            if verdict is None:
                waiting.append(envelope)
            else:
                verdicts[envelope.job_id] = verdict
    parked = {envelope.job_id for envelope in waiting}
    messages = [
        job_message(connection, e, verdict=verdicts.get(e.job_id) if e.depends_on else None)
        for e in envelopes
        if e.job_id not in parked
    ]
    if waiting:
        try:
            signatures = {e.job_id: job_signature(connection, e) for e in waiting}
            await park(connection, waiting, states, signatures)  # measures every parking before writing any
        except JobTooLargeError:
            raise
        except Exception as exc:
            if len(envelopes) == 1:
                raise
            raise _partial(connection, [], envelopes, exc) from exc
    acked: list[JobEnvelope] = list(waiting)
    failed = await _publish_windows(connection, messages, acked)
    if failed is not None:
        envelope, error = failed
        cause = _publish_error(error, envelope.job_id)
        if cause is not error:
            cause.__cause__ = error
        if len(envelopes) == 1:
            raise cause from error
        raise _partial(connection, acked, envelopes, cause) from cause


def _partial(
    connection: Connection, acked: Sequence[JobEnvelope], envelopes: Sequence[JobEnvelope], cause: Exception
) -> PartialEnqueueError:
    # Imported here, on this rare path: Job's module reaches this one through the client's backend.
    from naq.client._job import Job  # noqa: PLC0415

    done = {envelope.job_id for envelope in acked}
    enqueued = [Job(e.job_id, e.queue, connection.settings) for e in envelopes if e.job_id in done]
    not_enqueued = [e.job_id for e in envelopes if e.job_id not in done]
    return PartialEnqueueError(
        f"{len(enqueued)} of {len(envelopes)} jobs were enqueued; {len(not_enqueued)} were not (or may not "
        f"have been), see .not_enqueued: enqueue those ids again to retry without duplicates ({cause})",
        enqueued,
        not_enqueued,
    )


async def _publish_windows(
    connection: Connection, messages: Sequence[JobMessage], acked: list[JobEnvelope]
) -> tuple[JobEnvelope, Exception] | None:
    """Publish pipelined, a window at a time, adding each acknowledged job to ``acked``; the
    first failed publish and its error, if any (its window is awaited whole, later ones not sent)."""
    for start in range(0, len(messages), _PUBLISH_WINDOW):
        window = messages[start : start + _PUBLISH_WINDOW]
        results = await publish_window(connection, window)
        outcomes = [(message.envelope, result) for message, result in zip(window, results, strict=True)]
        sent = [envelope for envelope, result in outcomes if not isinstance(result, BaseException)]
        acked.extend(sent)
        if sent:
            await announce_jobs(connection, EventKind.ENQUEUED, sent)
        for envelope, result in outcomes:
            if isinstance(result, Exception):
                return envelope, result
            if isinstance(result, BaseException):
                raise result  # cancelled
    return None
