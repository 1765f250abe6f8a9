"""Job dependencies (issue 4) with real ``naq-worker`` processes: SIGKILL, SIGTERM, racing releases.

A dependent whose dependencies have not all completed is parked in ``naq_waiting`` under
``<dependency_id>.<dependent_id>`` and released by the worker that ends the dependency, before that
worker acks the dependency's message. A worker killed between writing the result and acking has
its message redelivered (after the 2 s test ack wait) to another worker, which sees the result,
releases the dependents and acks without running the job again.

Workers are ``naq-worker`` subprocesses (the ``processes`` fixture, the ``naq_env`` environment);
producers and checks run in the test process against the same real NATS server. Deadlines are
about 5x the figure they check (BRIEF §10); every wait has a deadline and every loop a bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

import naq.client
from harness import jobs
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import (
    consumer_state,
    result_record,
    running_on,
    spawn_worker,
    wait_consumer_drained,
    wait_registered,
    worker_logs,
)
from naq.client import Job, JobStatus, Queue
from naq.protocol import JobEnvelope, SerializationError

QUEUE = "default"
JOBS_STREAM = "naq_jobs"
RESULTS_BUCKET = "naq_results"
WAITING_BUCKET = "naq_waiting"

# --- helpers -------------------------------------------------------------------------------------


async def is_parked(js: Any, dependency_id: str, dependent_id: str) -> bool:
    """Whether ``<dependency_id>.<dependent_id>`` is a live key of ``naq_waiting``."""
    try:
        bucket = await js.key_value(WAITING_BUCKET)
        entry = await bucket.get(f"{dependency_id}.{dependent_id}")
    except (nats.js.errors.BucketNotFoundError, nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return False
    return bool(entry.value)


async def parked_keys(js: Any) -> list[str]:
    """Every live key of ``naq_waiting`` (one look; ``keys()`` creates a consumer, so never in a loop)."""
    bucket = await js.key_value(WAITING_BUCKET)
    try:
        return list(await bucket.keys())
    except nats.js.errors.NoKeysError:
        return []


def run_lines(directory: Path, tag: str) -> list[tuple[float, int]]:
    """(time, pid) of each run of ``tag``, from record_run's lines."""
    path = directory / tag
    if not path.exists():
        return []
    return [(float(t), int(p)) for t, p in (line.split() for line in path.read_text().splitlines())]


async def wait_exited(processes: ProcessGroup, process: subprocess.Popen[bytes], timeout: float, why: str) -> int:
    try:
        await async_wait_for(lambda: process.poll() is not None, timeout=timeout, interval=0.02, what=why)
    except TimeoutError:
        raise AssertionError(f"{why}:\n{worker_logs(processes, [process])}") from None
    assert process.returncode is not None
    return process.returncode


def fresh(prefix: str) -> str:
    """A job id no earlier test or round used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
async def queue(client_env: dict[str, str]) -> AsyncIterator[Queue]:
    """The default queue, with the settings of ``client_env``; naq's connections are closed afterwards."""
    yield Queue(QUEUE)
    await naq.client.close()


# --- SIGKILL between the dependency's result and its ack -----------------------------------------


@dataclass
class KillRound:
    """One round of the SIGKILL scenario: its plan, and what it saw."""

    dependents: int
    kill_after: int
    """Kill on the parent's result (0), or once this many of its dependents were released."""
    dependent_ids: set[str] = field(default_factory=set)
    killed: bool = False
    released: set[str] = field(default_factory=set)
    """Dependents the victim released before it died."""
    parked: set[str] = field(default_factory=set)
    """Dependents still parked after it died."""
    acked: bool = False
    """Whether the victim acked the parent's message before it died."""

    def order(self) -> str:
        released = len(self.released)
        if released == 0:
            where = "killed before any release"
        elif released < self.dependents:
            where = f"killed mid-release ({released} of {self.dependents} released)"
        else:
            where = f"killed after releasing all {self.dependents}"
        return where + (", after the ack" if self.acked else ", before the ack")


@dataclass
class KillScenario:
    """Rounds of: park dependents on a parent, SIGKILL the parent's worker, let a new worker finish.

    The only live worker runs the parent (on ``default``) and is SIGKILLed; a new worker then
    takes over and is the next round's victim. Round ``n``'s dependents are on their own queue
    ``depsN``, served by the new worker and never by the victim: whatever the timing of the kill,
    the victim cannot have started a dependent, so "ran exactly once" is exact. The kill comes
    from a subscription callback: on the parent's result reaching ``$KV.naq_results.<parent_id>``
    (``kill_after=0``), or on the k-th release of a dependent reaching its queue subject, so rounds
    kill before, during and after the releases.
    """

    queue: Queue
    processes: ProcessGroup
    env: dict[str, str]
    run_dir: Path
    nc: Any
    js: Any
    every: list[subprocess.Popen[bytes]] = field(default_factory=list)
    released_seen: set[str] = field(default_factory=set)
    """Ids of the jobs published on queue subjects (a release is one) during the round."""
    victim: subprocess.Popen[bytes] | None = None
    plan: KillRound | None = None
    """The round in progress, until its victim is killed."""

    def spawn(self, name: str, *queues: str) -> subprocess.Popen[bytes]:
        process = spawn_worker(self.processes, self.env, name, concurrency=2, queues=(QUEUE, *queues))
        self.every.append(process)
        return process

    def kill(self) -> None:
        plan, victim = self.plan, self.victim
        if plan is not None and victim is not None and not plan.killed:
            if victim.poll() is None:  # never signal a pid that was reaped (and maybe reused)
                os.kill(victim.pid, signal.SIGKILL)
            plan.killed = True

    async def on_result(self, message: Any) -> None:
        if self.plan is not None and self.plan.kill_after == 0:
            self.kill()

    async def on_queue_message(self, message: Any) -> None:
        try:
            job_id = JobEnvelope.decode(message.data).job_id
        except SerializationError:
            return
        self.released_seen.add(job_id)
        plan = self.plan
        if plan is not None and 0 < plan.kill_after <= len(self.released_seen & plan.dependent_ids):
            self.kill()

    async def kill_during(self, number: int, plan: KillRound, parent_id: str, parent_tag: str) -> Job:
        """Enqueue the parent and kill its worker as ``plan`` says; returns the parent's Job."""
        watch = await self.nc.subscribe(f"$KV.{RESULTS_BUCKET}.{parent_id}", cb=self.on_result)
        try:
            self.released_seen.clear()
            self.plan = plan
            await self.nc.flush()
            parent = await self.queue.enqueue(
                jobs.sleep_then_record, str(self.run_dir), parent_tag, 1.0, job_id=parent_id, max_retries=0
            )
            try:
                await async_wait_for(lambda: plan.killed, timeout=15, interval=0.01, what="the kill")
            except TimeoutError:
                raise AssertionError(f"round {number}: no kill:\n{self.logs()}") from None
        finally:
            await watch.unsubscribe()
            self.plan = None
        return parent

    async def account_after_kill(self, number: int, plan: KillRound, parent_id: str) -> None:
        """With no worker alive, nothing changes but what the victim sent before it died: every
        dependent is either still parked (its key there) or released (on the queue). One that is
        neither is lost: nothing would ever run it."""

        async def released_or_parked() -> bool:
            await self.nc.flush()
            plan.released = plan.dependent_ids & self.released_seen
            plan.parked = {d for d in plan.dependent_ids if await is_parked(self.js, parent_id, d)}
            return plan.released | plan.parked == plan.dependent_ids

        try:
            await async_wait_for(released_or_parked, timeout=5, interval=0.1, what="every dependent accounted")
        except TimeoutError:
            lost = plan.dependent_ids - plan.released - plan.parked
            raise AssertionError(
                f"round {number}: dependents neither parked nor released after the kill: {sorted(lost)} "
                f"(released {sorted(plan.released)}, parked {sorted(plan.parked)})\n{self.logs()}"
            ) from None
        plan.acked = await consumer_state(self.js) == (0, 0)

    def logs(self) -> str:
        return worker_logs(self.processes, self.every[-2:])

    async def round(self, number: int, plan: KillRound, victim_name: str) -> str:
        """One round with ``self.victim`` (named ``victim_name``); returns the next victim's name."""
        victim = self.victim
        assert victim is not None
        parent_id = fresh(f"kparent{number}")
        parent_tag = f"round{number}-parent"
        tags = [f"round{number}-dep{i}" for i in range(plan.dependents)]
        deps_queue = Queue(f"deps{number}")
        dependents = [
            await deps_queue.enqueue(jobs.record_run, str(self.run_dir), tag, depends_on=parent_id) for tag in tags
        ]
        plan.dependent_ids = {job.job_id for job in dependents}
        for job in dependents:
            assert await job.status() == JobStatus.WAITING

        parent = await self.kill_during(number, plan, parent_id, parent_tag)
        code = await wait_exited(self.processes, victim, 5, f"round {number}: the victim exits after SIGKILL")
        assert code == -signal.SIGKILL
        record = await result_record(self.js, parent_id)
        assert record is not None
        assert (record.status, record.worker_id) == ("completed", victim_name)
        await self.account_after_kill(number, plan, parent_id)

        survivor_name = f"kill-w{number + 1}"
        survivor = self.spawn(survivor_name, deps_queue.name)
        try:
            values = await asyncio.wait_for(asyncio.gather(*(job.result(timeout=20) for job in dependents)), 25)
        except TimeoutError:
            raise AssertionError(
                f"round {number} ({plan.order()}): dependents did not complete; consumer (pending, ack "
                f"pending) = {await consumer_state(self.js, deps_queue.name)}\n{self.logs()}"
            ) from None
        assert values == tags
        assert await parent.result(timeout=1) == parent_tag

        # The redelivered parent is acked by the survivor without running again.
        await wait_consumer_drained(self.js, 15, f"round {number}: the parent's message acked")
        await wait_consumer_drained(self.js, 5, f"round {number}: the dependents acked", deps_queue.name)
        parent_runs = run_lines(self.run_dir, parent_tag)
        assert [pid for _, pid in parent_runs] == [victim.pid], "the parent ran once, on the victim"
        record = await result_record(self.js, parent_id)
        assert record is not None
        assert (record.worker_id, record.attempts) == (victim_name, 1), "the result is still the victim's"
        for tag in tags:
            lines = run_lines(self.run_dir, tag)
            assert len(lines) == 1, f"{tag} ran {len(lines)} times"
            assert lines[0][0] >= parent_runs[0][0], f"{tag} ran before its dependency ended"
            assert lines[0][1] == survivor.pid, f"{tag} ran on the survivor"
        assert await parked_keys(self.js) == []
        self.victim = survivor
        return survivor_name


async def test_sigkill_right_after_the_dependencys_result_still_releases_its_dependents(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, nc: Any, js: Any
) -> None:
    scenario = KillScenario(queue, processes, naq_env, run_dir, nc, js)
    # Round 0 kills on the result (before any release, in practice); the others after 1, 2 and all
    # releases of the parent's dependents reached their queue.
    plans = [KillRound(dependents=3, kill_after=0), KillRound(4, 1), KillRound(4, 2), KillRound(3, 3)]
    releases = await nc.subscribe("naq.queue.>", cb=scenario.on_queue_message)
    try:
        victim_name = "kill-w0"
        scenario.victim = scenario.spawn(victim_name)
        await wait_registered(processes, {victim_name: scenario.victim})
        for number, plan in enumerate(plans):
            victim_name = await scenario.round(number, plan, victim_name)
    finally:
        await releases.unsubscribe()
        print("SIGKILL rounds:", "; ".join(plan.order() for plan in plans))
        for process in scenario.every:
            ProcessGroup.stop(process)
    # A slow test process may let round 0's victim get further than its result before the kill
    # lands, so only the later rounds' positions are certain.
    for plan in plans:
        assert len(plan.released) >= plan.kill_after, plan.order()


# --- racing releases across processes ------------------------------------------------------------


async def test_diamonds_across_three_worker_processes_run_each_join_once_after_both_branches(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    workers = {f"dia{i}": spawn_worker(processes, naq_env, f"dia{i}", concurrency=2) for i in range(3)}
    try:
        await wait_registered(processes, workers)
        # Dependents first, roots last: every B and C is parked on its A and every D on its B and C,
        # so the two branches of a diamond end at about the same time (0.3 s each, on different
        # slots or processes) and race to release the join.
        diamonds = 5
        ids = {(n, part): fresh(f"{part}{n}") for n in range(diamonds) for part in "abcd"}
        joins: list[Job] = []
        branches: list[Job] = []
        for n in range(diamonds):
            joins.append(
                await queue.enqueue(
                    jobs.record_run, str(run_dir), f"d{n}", job_id=ids[n, "d"], depends_on=[ids[n, "b"], ids[n, "c"]]
                )
            )
            for part in "bc":
                branches.append(
                    await queue.enqueue(
                        jobs.sleep_then_record,
                        str(run_dir),
                        f"{part}{n}",
                        0.3,
                        job_id=ids[n, part],
                        depends_on=ids[n, "a"],
                    )
                )
        for job in joins + branches:
            assert await job.status() == JobStatus.WAITING
        roots = [
            await queue.enqueue(jobs.record_run, str(run_dir), f"a{n}", job_id=ids[n, "a"]) for n in range(diamonds)
        ]

        try:
            values = await asyncio.wait_for(asyncio.gather(*(job.result(timeout=25) for job in joins)), 30)
        except TimeoutError:
            raise AssertionError(
                f"not every join completed; consumer (pending, ack pending) = {await consumer_state(js)}\n"
                f"{worker_logs(processes, list(workers.values()))}"
            ) from None
        assert values == [f"d{n}" for n in range(diamonds)]
        for job in roots + branches:
            assert await job.status() == JobStatus.COMPLETED

        pids: set[int] = set()
        for n in range(diamonds):
            lines = {part: run_lines(run_dir, f"{part}{n}") for part in "abcd"}
            for part, runs in lines.items():
                assert len(runs) == 1, f"{part}{n} ran {len(runs)} times"
                pids.add(runs[0][1])
            assert lines["b"][0][0] >= lines["a"][0][0]
            assert lines["c"][0][0] >= lines["a"][0][0]
            assert lines["d"][0][0] >= max(lines["b"][0][0], lines["c"][0][0]), f"d{n} ran before b{n} and c{n}"
        assert pids <= {p.pid for p in workers.values()}
        assert len(pids) >= 2, f"the diamonds were shared between the worker processes, got pids {pids}"
        await wait_consumer_drained(js, 10, "every message acked")
        assert await parked_keys(js) == [], "nothing is left parked"
    finally:
        codes = {name: ProcessGroup.stop(process) for name, process in workers.items()}
    assert codes == dict.fromkeys(workers, 0), worker_logs(processes, list(workers.values()))


# --- SIGTERM while the dependency runs -----------------------------------------------------------


async def test_sigterm_while_the_dependency_runs_finishes_it_and_its_dependent_runs_once(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    stopping = spawn_worker(processes, naq_env, "term-dep1", concurrency=2)
    await wait_registered(processes, {"term-dep1": stopping})

    parent_id = fresh("tparent")
    dependent = await queue.enqueue(jobs.record_run, str(run_dir), "dependent", depends_on=parent_id)
    assert await dependent.status() == JobStatus.WAITING
    parent = await queue.enqueue(jobs.sleep_then_record, str(run_dir), "parent", 2.0, job_id=parent_id)
    await async_wait_for(lambda: running_on(parent_id), timeout=15, interval=0.05, what="the parent running")

    stopping.send_signal(signal.SIGTERM)
    # The parent finishes within the grace period; the worker releases the dependent before it
    # acks the parent, runs nothing new, and exits 0.
    try:
        assert await parent.result(timeout=15) == "parent"
    except TimeoutError:
        raise AssertionError(f"the parent did not finish:\n{worker_logs(processes, [stopping])}") from None
    assert await wait_exited(processes, stopping, 15, "the stopping worker exits") == 0, worker_logs(
        processes, [stopping]
    )
    record = await result_record(js, parent_id)
    assert record is not None
    assert (record.status, record.worker_id) == ("completed", "term-dep1")
    assert not await is_parked(js, parent_id, dependent.job_id), "released by the stopping worker"
    assert await dependent.status() == JobStatus.QUEUED
    assert run_lines(run_dir, "dependent") == [], "a stopping worker starts nothing new"

    taker = spawn_worker(processes, naq_env, "term-dep2", concurrency=2)
    try:
        assert await dependent.result(timeout=20) == "dependent"
    except TimeoutError:
        raise AssertionError(f"the dependent did not run:\n{worker_logs(processes, [stopping, taker])}") from None
    [(parent_ran, parent_pid)] = run_lines(run_dir, "parent")
    [(dependent_ran, dependent_pid)] = run_lines(run_dir, "dependent")
    assert parent_pid == stopping.pid
    assert dependent_pid == taker.pid
    assert dependent_ran >= parent_ran
    await wait_consumer_drained(js, 10, "every message acked")
    assert await parked_keys(js) == []
    assert ProcessGroup.stop(taker) == 0, worker_logs(processes, [taker])
