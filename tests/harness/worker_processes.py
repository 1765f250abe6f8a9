"""Helpers for tests with ``naq-worker`` subprocesses: starting them, their logs, what they report.

Needs naq.client (the e2e tests' environment): the registry is read through ``list_workers``.
Raw records are read with the test's own nats-py JetStream context.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import naq.client
from harness.jetstream_api import kv_record
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from naq.protocol import ResultRecord

__all__ = [
    "consumer_state",
    "live_worker_ids",
    "result_record",
    "running_on",
    "spawn_worker",
    "wait_consumer_drained",
    "wait_registered",
    "worker_logs",
]

QUEUE = "default"


def spawn_worker(
    processes: ProcessGroup,
    env: Mapping[str, str],
    name: str,
    *extra: str,
    concurrency: int = 1,
    queues: Sequence[str] = (QUEUE,),
) -> subprocess.Popen[bytes]:
    """Start ``naq-worker QUEUES... --concurrency N --name NAME EXTRA...``."""
    command = [*queues, "--concurrency", str(concurrency), "--name", name, *extra]
    return processes.spawn("naq-worker", *command, env=dict(env))


def worker_logs(processes: ProcessGroup, workers: Sequence[subprocess.Popen[bytes]], tail: int = 6000) -> str:
    """The end of every worker's log, for assertion messages."""
    return "\n".join(f"--- worker pid {p.pid} (exit {p.poll()}):\n{processes.output(p)[-tail:]}" for p in workers)


async def live_worker_ids() -> set[str]:
    """Ids of the workers in the registry now."""
    return {worker.worker_id for worker in await naq.client.list_workers()}


async def wait_registered(
    processes: ProcessGroup, workers: Mapping[str, subprocess.Popen[bytes]], timeout: float = 30.0
) -> None:
    """Wait until every worker named in ``workers`` is in ``list_workers``; fail if one exits first."""

    async def all_registered() -> bool:
        for name, process in workers.items():
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited early:\n{worker_logs(processes, [process])}")
        return set(workers) <= await live_worker_ids()

    await async_wait_for(all_registered, timeout=timeout, interval=0.1, what=f"workers {sorted(workers)} registered")


async def running_on(job_id: str) -> str | None:
    """The id of the worker whose heartbeat says it runs ``job_id``, if any."""
    for worker in await naq.client.list_workers():
        if job_id in worker.current_jobs:
            return worker.worker_id
    return None


async def result_record(js: Any, job_id: str) -> ResultRecord | None:
    """The raw result record of ``job_id`` in ``naq_results``, read with plain nats-py."""
    return await kv_record(js, "naq_results", job_id, ResultRecord)


async def consumer_state(js: Any, queue: str = QUEUE) -> tuple[int, int]:
    """(num_pending, num_ack_pending) of ``queue``'s consumer."""
    info = await js.consumer_info("naq_jobs", f"naq-worker-{queue}")
    return info.num_pending, info.num_ack_pending


async def wait_consumer_drained(js: Any, timeout: float, why: str, queue: str = QUEUE) -> None:
    """Wait until ``queue``'s consumer has nothing pending and nothing unacknowledged.

    A result is written before its message is acked, so a test that has just read a result waits
    here rather than asserting the consumer's state at once.
    """

    async def drained() -> bool:
        return await consumer_state(js, queue) == (0, 0)

    try:
        await async_wait_for(drained, timeout=timeout, interval=0.1, what=why)
    except TimeoutError:
        state = await consumer_state(js, queue)
        raise AssertionError(f"{why}: consumer of {queue} (pending, ack pending) = {state}") from None
