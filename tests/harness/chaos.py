"""Helpers of the fault tests (tests/chaos): restarted process fleets, what ended, the figures.

A :class:`Fleet` keeps N worker or scheduler subprocesses in numbered slots and starts a new one
in a slot whose process died, as a container's restart policy would. The checks read what the
jobs themselves recorded (:mod:`harness.chaos_jobs`), the results bucket and the dead-letter
queue (through ``naq.client.failed_jobs``), never the test's own counters alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

import naq.client
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from naq.client import FailedEntry
from naq.protocol import ResultRecord, SerializationError

__all__ = [
    "ALLOWED",
    "LONG",
    "Fleet",
    "dead_letters",
    "longest_gap",
    "result_records",
    "scaled",
    "sleep_until",
    "wait_all_ended",
    "worker_args",
]

LONG = os.environ.get("NAQ_CHAOS_LONG", "") not in ("", "0")
"""``NAQ_CHAOS_LONG=1`` (``hatch run chaos``): longer fault phases and more jobs."""

ALLOWED = "harness.chaos_jobs"
"""The one module the fault tests' workers may run jobs from (``--allow-module``)."""


def scaled(short: float, long: float) -> Any:
    """``long`` under ``NAQ_CHAOS_LONG``, else ``short`` (the CI figure)."""
    return long if LONG else short


def worker_args(concurrency: int, queue: str = "default") -> Callable[[str], list[str]]:
    """Command line of a ``naq-worker`` of the fault tests, given its name."""

    def args(name: str) -> list[str]:
        return [queue, "--concurrency", str(concurrency), "--name", name, "--allow-module", ALLOWED]

    return args


class Fleet:
    """``size`` processes of console script ``script``, each restarted when it dies.

    ``args(name)`` is the command line of the process called ``name`` (``<prefix><slot>-<n>``, a
    new name per start, so the registry tells a restarted process from the one it replaced).
    Every process belongs to ``processes``, which stops them all after the test.
    """

    def __init__(
        self,
        processes: ProcessGroup,
        script: str,
        args: Callable[[str], Sequence[str]],
        env: Mapping[str, str],
        size: int,
        prefix: str,
        max_starts: int = 200,
    ) -> None:
        self.processes = processes
        self.script = script
        self.args = args
        self.env = dict(env)
        self.prefix = prefix
        self.max_starts = max_starts
        self.starts = 0
        self.slots: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.every: list[subprocess.Popen[bytes]] = []
        self.deaths: list[tuple[str, int]] = []
        """(name, exit code) of every process that died by itself (not killed by :meth:`kill`)."""
        self.kills: list[tuple[str, int, float]] = []
        """(name, pid, unix time) of every process :meth:`kill` took down."""
        for slot in range(size):
            self.slots.append(self._spawn(slot))

    def _spawn(self, slot: int) -> tuple[str, subprocess.Popen[bytes]]:
        self.starts += 1
        if self.starts > self.max_starts:
            raise AssertionError(f"{self.script} started {self.starts} times:\n{self.logs()}")
        name = f"{self.prefix}{slot}-{self.starts}"
        process = self.processes.spawn(self.script, *self.args(name), env=self.env)
        self.every.append(process)
        return name, process

    @property
    def live(self) -> dict[str, subprocess.Popen[bytes]]:
        """The processes in the slots now, by name."""
        return dict(self.slots)

    def supervise(self) -> int:
        """Restart every slot whose process exited; returns how many were restarted."""
        restarted = 0
        for slot, (name, process) in enumerate(self.slots):
            if process.poll() is not None:
                self.deaths.append((name, process.returncode))
                self.slots[slot] = self._spawn(slot)
                restarted += 1
        return restarted

    def kill(self, slot: int) -> str:
        """SIGKILL the process of ``slot`` and start its replacement at once; returns the killed name."""
        name, process = self.slots[slot]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            self.kills.append((name, process.pid, time.time()))
        else:
            self.deaths.append((name, process.returncode))
        self.slots[slot] = self._spawn(slot)
        return name

    def slot_of(self, name: str) -> int:
        """The slot of the process called ``name`` (a live one)."""
        for slot, (candidate, _) in enumerate(self.slots):
            if candidate == name:
                return slot
        raise KeyError(name)

    def logs(self, tail: int = 3000) -> str:
        """The end of every process's log, for assertion messages."""
        return "\n".join(
            f"--- {self.script} pid {p.pid} (exit {p.poll()}):\n{self.processes.output(p)[-tail:]}" for p in self.every
        )


async def result_records(js: Any, bucket: str = "naq_results") -> dict[str, ResultRecord]:
    """Every result record in ``bucket`` now, by job id (read with one ordered watch)."""
    try:
        kv = await js.key_value(bucket)
    except Exception as exc:  # no bucket yet: nothing ended
        if "not found" in str(exc).lower():
            return {}
        raise
    watcher = await kv.watchall(ignore_deletes=True)
    records: dict[str, ResultRecord] = {}
    try:
        for _ in range(1_000_000):
            entry = await watcher.updates(timeout=10)
            if entry is None:  # the initial values are all in
                return records
            try:
                records[entry.key] = ResultRecord.decode(entry.value)
            except SerializationError:
                continue  # not a result (nothing else is written there; a test would see it missing)
        raise AssertionError("more than a million results")
    finally:
        await watcher.stop()


async def wait_all_ended(
    js: Any, ids: Iterable[str], fleet: Fleet, timeout: float, supervise: bool = False
) -> dict[str, ResultRecord]:
    """Wait until every job of ``ids`` has a result and the default queue's consumer is drained
    (restarting dead processes of ``fleet`` meanwhile if ``supervise``); returns the result records
    of that check. Fails with the missing ids and the fleet's logs.

    The records returned are those the successful check read: a second read could come back short
    (a watch's "no more values" marker can arrive before the values on a cluster).
    """
    from harness.worker_processes import consumer_state

    wanted = set(ids)
    seen: dict[str, ResultRecord] = {}

    async def ended() -> bool:
        if supervise:
            fleet.supervise()
        records = await result_records(js)
        if not wanted <= set(records) or await consumer_state(js) != (0, 0):
            return False
        seen.update(records)
        return True

    try:
        await async_wait_for(ended, timeout=timeout, interval=0.5, what="every enqueued job ended")
    except TimeoutError:
        missing = wanted - set(await result_records(js))
        raise AssertionError(f"{len(missing)} jobs never ended: {sorted(missing)[:10]}\n{fleet.logs()}") from None
    return seen


async def dead_letters(queue: str | None = None, nats_url: str | Sequence[str] | None = None) -> list[FailedEntry]:
    """Every record in the dead-letter queue, through the public API (``naq.client.failed_jobs``)."""
    return [entry async for entry in naq.client.failed_jobs(queue, nats_url=nats_url)]


def longest_gap(times: Iterable[float], start: float | None = None, end: float | None = None) -> float:
    """The longest time between consecutive ``times`` (sorted), counting from ``start`` and up to ``end`` if given."""
    ordered = sorted(times)
    if start is not None:
        ordered = [start, *[t for t in ordered if t >= start]]
    if end is not None:
        ordered = [*[t for t in ordered if t <= end], end]
    return max((b - a for a, b in pairwise(ordered)), default=0.0)


async def sleep_until(deadline: float) -> None:
    """Sleep until monotonic time ``deadline`` (a cadence, not a synchronisation)."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
