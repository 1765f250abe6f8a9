"""Which queues exist: :func:`naq.client.queues`, from what the server keeps anyway (no consumer).

A queue counts as existing when any of these names it:

- a job waiting or in flight on ``naq.queue.<queue>`` (the job stream's subjects);
- its durable consumer ``naq-worker-<queue>`` (created by the first worker of the queue, kept);
- an event of it in the last ``EVENTS_MAX_AGE`` (every enqueue, start, end... publishes one);
- a live worker's heartbeat listing it.

A queue that only has jobs scheduled for later, or only dead-lettered jobs older than the events
kept and no consumer, is not listed (reading the whole schedule or dead-letter store would make
this a large read).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from naq.client._connection import Connection
from naq.client._direct import subject_counts
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
from naq.client._workers import read_workers
from naq.protocol import names, validate_queue_name

__all__ = ["consumer_configs", "list_queues"]

_MAX_PAGES: Final = 1000
"""Bound of the consumer listing's paging loop."""


async def consumer_configs(connection: Connection, stream: str) -> list[dict[str, Any]]:
    """The configuration of every consumer of ``stream`` (``name`` included; empty if there is no
    such stream), in a few ``CONSUMER.LIST`` pages."""
    found: list[dict[str, Any]] = []
    for _ in range(_MAX_PAGES):
        try:
            reply = await js_api(connection, f"CONSUMER.LIST.{stream}", {"offset": len(found)})
        except JetStreamAPIError as exc:
            if exc.code == STREAM_NOT_FOUND:
                return found
            raise
        page = [{**(info.get("config") or {}), "name": info.get("name", "")} for info in reply.get("consumers") or []]
        found += page
        if not page or len(found) >= int(reply.get("total") or 0):
            break
    return found


def _token_after(prefix: str, subject: str) -> str:
    """The subject token right after ``prefix`` (``naq.queue.<this>...``)."""
    return subject.removeprefix(prefix + ".").partition(".")[0]


def _queue(name: str) -> str | None:
    try:
        return validate_queue_name(name)
    except ValueError:
        return None  # not a naq queue (e.g. the system events' "_sys")


async def list_queues(connection: Connection) -> list[str]:
    """Every queue the server shows a sign of (see the module docstring), sorted."""
    waiting, consumers, events, workers = await asyncio.gather(
        subject_counts(connection, names.JOBS_STREAM, f"{names.QUEUE_PREFIX}.>"),
        consumer_configs(connection, names.JOBS_STREAM),
        subject_counts(connection, names.EVENTS_STREAM, f"{names.EVENTS_PREFIX}.*.*"),
        read_workers(connection),
    )
    candidates: set[str] = set()
    # naq.queue.<queue>[.<deeper levels, kept for priorities>]
    candidates.update(_token_after(names.QUEUE_PREFIX, subject) for subject in waiting)
    candidates.update(
        config["name"].removeprefix(names.CONSUMER_PREFIX)
        for config in consumers
        if config["name"].startswith(names.CONSUMER_PREFIX)
    )
    candidates.update(_token_after(names.EVENTS_PREFIX, subject) for subject in events)
    for worker in workers:
        candidates.update(worker.queues)
    return sorted(queue for queue in map(_queue, candidates) if queue is not None)
