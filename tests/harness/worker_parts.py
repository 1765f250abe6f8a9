"""The worker's pieces outside a Worker, on a real server: for the unit tests in tests/worker.

:class:`PartsHost` is a worker as its pieces see it (the ``ProcessorHost``, ``OutcomeHost`` and
``HeartbeatHost`` protocols of naq.worker): it counts what it is told and runs no jobs itself.
:class:`QueueTap` publishes onto a queue and fetches from its consumer, so a test gets real
delivered messages. Needs naq-worker (the worker environment).
"""

from __future__ import annotations

import functools
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import nats.js.errors

from harness.waiting import async_wait_for
from naq.client.runtime import Connection, ensure_bucket, ensure_queue_consumer, ensure_stream
from naq.protocol import EventRecord, JobEnvelope, Record, Settings, names, resources
from naq.protocol.subjects import queue_subject
from naq.worker import Worker
from naq.worker._completions import CompletionEvents
from naq.worker._executor import run_call
from naq.worker._gating import DependencyGate
from naq.worker._outcomes import Outcomes
from naq.worker._processor import JobProcessor
from naq.worker._store import JobStore
from naq.worker._threads import JobThreads
from naq.worker._watches import CancelledJobs, WaitingIndex

__all__ = ["PartsHost", "QueueTap", "ensure_worker_resources", "envelope", "last_event", "last_record", "wire_parts"]


async def ensure_worker_resources(connection: Connection) -> None:
    """Create every stream and bucket a worker uses (what ``Worker.run`` does first)."""
    settings = connection.settings
    for spec in resources.all_streams(settings):
        await ensure_stream(connection, spec)
    for bucket in (
        resources.results_bucket(settings),
        resources.job_status_bucket(settings),
        resources.waiting_bucket(settings),
        resources.workers_bucket(settings),
    ):
        await ensure_bucket(connection, bucket)


@dataclass
class PartsHost:
    """A worker as its pieces see it, with a real connection (for the completion events)."""

    connection: Connection
    settings: Settings
    worker_id: str = "parts-worker"
    state: dict[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False
    allowed_modules: tuple[str, ...] | None = None
    cancelled: CancelledJobs = field(default_factory=CancelledJobs)
    hostname: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    queues: list[str] = field(default_factory=lambda: ["default"])
    concurrency: int = 2
    started_at: float = field(default_factory=time.time)
    processed: int = 0
    failed: int = 0
    processed_by_queue: dict[str, int] = field(default_factory=dict)
    failed_by_queue: dict[str, int] = field(default_factory=dict)
    registry: Any = None
    running: list[str] = field(default_factory=list)
    hooks_called: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    changes: int = 0
    completions: CompletionEvents = field(init=False)

    def __post_init__(self) -> None:
        self.completions = CompletionEvents(self.connection, self.worker_id)

    counted = Worker.counted
    """The worker's own counting (totals and per queue)."""

    def running_changed(self) -> None:
        """Count the changes."""
        self.changes += 1

    def running_job_ids(self) -> list[str]:
        """What the test says runs."""
        return list(self.running)

    async def call_hooks(self, name: str, *args: Any) -> None:
        """Note each hook call."""
        self.hooks_called.append((name, args))


def wire_parts(host: PartsHost, waiting: WaitingIndex | None = None) -> tuple[DependencyGate, Outcomes, JobProcessor]:
    """A gate, the outcomes and a processor for ``host``, wired as ``Worker.run`` wires them."""
    store = JobStore(host.connection)
    gate = DependencyGate(host.connection, waiting or WaitingIndex(lambda *_: None))
    outcomes = Outcomes(host, store, gate)
    run = functools.partial(run_call, threads=JobThreads(2), on_thread_done=lambda: None)
    return gate, outcomes, JobProcessor(host, store, gate, outcomes, run)


def envelope(
    job_id: str, function: str = "harness.jobs:add", *args: Any, queue: str = "default", **options: Any
) -> JobEnvelope:
    """A JSON job, as a producer would publish it."""
    return JobEnvelope(
        job_id=job_id,
        queue=queue,
        function=function,
        payload={"args": list(args), "kwargs": {}},
        enqueued_at=time.time(),
        **options,
    )


class QueueTap:
    """Publishes onto ``queue`` and fetches from its durable consumer (the one workers share)."""

    def __init__(self, connection: Connection, queue: str = "default") -> None:
        self.connection = connection
        self.queue = queue
        self._subscription: Any = None

    async def subscription(self) -> Any:
        """The pull subscription bound to the queue's consumer."""
        if self._subscription is None:
            spec = await ensure_queue_consumer(self.connection, self.queue)
            js = self.connection.js
            self._subscription = await js.pull_subscribe_bind(spec.durable_name, stream=names.JOBS_STREAM)
        return self._subscription

    async def publish(self, data: JobEnvelope | bytes, headers: dict[str, str] | None = None) -> None:
        """Publish a job (or raw bytes) on the queue's subject."""
        payload = data.encode() if isinstance(data, JobEnvelope) else data
        await self.connection.js.publish(queue_subject(self.queue), payload, headers=headers)

    async def fetch(self, count: int = 1, timeout: float = 5.0) -> list[Any]:
        """Exactly ``count`` delivered messages (fails if fewer come within ``timeout``)."""
        subscription = await self.subscription()
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        for _ in range(count):  # bounded: one fetch per message wanted at most
            remaining = deadline - time.monotonic()
            if len(got) >= count or remaining <= 0:
                break
            got += await subscription.fetch(count - len(got), timeout=remaining)
        assert len(got) == count, f"fetched {len(got)} of {count} messages from {self.queue}"
        return got

    async def deliver(self, data: JobEnvelope | bytes, headers: dict[str, str] | None = None) -> Any:
        """Publish one job and fetch it: a delivered message, as a worker's fetch loop gets it."""
        await self.publish(data, headers)
        [message] = await self.fetch(1)
        return message

    async def pending(self) -> tuple[int, int]:
        """(num_pending, num_ack_pending) of the queue's consumer."""
        spec = resources.queue_consumer(self.queue, self.connection.settings)
        info = await self.connection.js.consumer_info(names.JOBS_STREAM, spec.durable_name)
        return info.num_pending, info.num_ack_pending


async def last_record(connection: Connection, stream: str, subject: str, kind: type[Record]) -> Any:
    """The last message on ``subject`` of ``stream`` decoded as ``kind``; ``None`` if there is none."""
    try:
        message = await connection.js.get_last_msg(stream, subject)
    except nats.js.errors.NotFoundError:
        return None
    return kind.decode(message.data)


async def last_event(connection: Connection, subject: str, timeout: float = 5.0) -> EventRecord:
    """The last event on ``subject`` (``naq.events.<queue>.<kind>``), waiting for one to land
    (events are published without waiting for their ack)."""
    return await async_wait_for(
        lambda: last_record(connection, names.EVENTS_STREAM, subject, EventRecord),
        timeout=timeout,
        what=f"an event on {subject}",
    )
