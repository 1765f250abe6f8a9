"""Dependency gating (naq.worker._gating) on a real server: verdicts, parking and releases."""

from __future__ import annotations

import asyncio

from harness.waiting import async_wait_for
from harness.worker_parts import PartsHost, QueueTap, envelope, wire_parts
from naq.client.runtime import Connection, KeyWatch, ensure_bucket, park, parked_record
from naq.protocol import (
    DependencyOutcome,
    DependencyVerdict,
    ErrorInfo,
    JobEnvelope,
    ResultRecord,
    ResultStatus,
    Verdict,
    names,
    resources,
)
from naq.worker._gating import DependencyGate
from naq.worker._store import JobStore
from naq.worker._watches import WaitingIndex


async def _ended(connection: Connection, job_id: str, status: ResultStatus) -> None:
    """Store a result for ``job_id``, as the worker that ran it would."""
    job = envelope(job_id)
    if status == "completed":
        record = ResultRecord.completed(job, 1, attempts=1, started_at=1.0, worker_id="w")
    else:
        record = ResultRecord.failed(job, ErrorInfo(type="m:E", message="boom"), attempts=1)
    await JobStore(connection).write_result(record, None)


async def _released(tap: QueueTap, job: JobEnvelope) -> str:
    """The verdict header of ``job``'s next delivery from its queue."""
    [message] = await tap.fetch(1)
    assert JobEnvelope.decode(message.data) == job
    await message.ack()
    return message.headers[names.HEADER_DEPENDENCIES]


async def test_a_job_whose_dependency_has_not_ended_is_parked(host: PartsHost, tap: QueueTap) -> None:
    gate, _, _ = wire_parts(host)
    child = envelope("child-1", depends_on=("parent-1",))
    message = await tap.deliver(child)
    assert await gate.verdict(message, child) is None, "parked: the caller only acks the message"
    parked = await parked_record(tap.connection, "parent-1", "child-1")
    assert parked is not None
    assert parked.job == child
    await gate.unpark(child)
    assert await parked_record(tap.connection, "parent-1", "child-1") is None


async def test_the_verdict_comes_from_the_dependencies_results_when_the_header_has_none(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    gate, _, _ = wire_parts(host)
    await _ended(connection, "done-parent", "completed")
    await _ended(connection, "failed-parent", "failed")
    ready = envelope("ready-1", depends_on=("done-parent",))
    verdict = await gate.verdict(await tap.deliver(ready), ready)
    assert verdict == DependencyVerdict.met()
    doomed = envelope("doomed-1", depends_on=("done-parent", "failed-parent"))
    verdict = await gate.verdict(await tap.deliver(doomed), doomed)
    assert verdict == DependencyVerdict.failed("failed-parent", DependencyOutcome.FAILED)


async def test_the_publishers_verdict_is_taken_as_it_came(host: PartsHost, tap: QueueTap) -> None:
    gate, _, _ = wire_parts(host)
    job = envelope("told-1", depends_on=("p9",))
    header = DependencyVerdict.failed("p9", DependencyOutcome.TIMEOUT).header()
    message = await tap.deliver(job, {names.HEADER_DEPENDENCIES: header})
    verdict = await gate.verdict(message, job)
    assert verdict is not None
    assert (verdict.verdict, verdict.dependency, verdict.outcome) == (Verdict.FAILED, "p9", DependencyOutcome.TIMEOUT)


async def test_a_parked_job_is_released_with_the_verdict_of_its_dependency(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    gate, _, _ = wire_parts(host)
    waits = envelope("waits-1", depends_on=("parent-2",))
    assert await gate.verdict(await tap.deliver(waits), waits) is None
    fails = envelope("fails-1", depends_on=("parent-3",))
    assert await gate.verdict(await tap.deliver(fails), fails) is None
    # The parent ended on another worker: read from the stream, not the watch.
    await gate.release_all("parent-2", "completed")
    assert await _released(tap, waits) == "met"
    assert await parked_record(connection, "parent-2", "waits-1") is None
    await gate.release_all("parent-3", "cancelled")
    assert await _released(tap, fails) == "failed parent-3 cancelled"


async def test_a_parkings_deadline_fails_the_job_if_it_still_waits(host: PartsHost, tap: QueueTap) -> None:
    gate, _, _ = wire_parts(host)
    job = envelope("slow-dep-1", depends_on=("parent-4",))
    assert await gate.verdict(await tap.deliver(job), job) is None
    parked = await parked_record(tap.connection, "parent-4", "slow-dep-1")
    assert parked is not None
    deadline = {names.HEADER_DEPENDENCIES: DependencyVerdict.deadline(parked.generation).header()}
    assert await gate.verdict(await tap.deliver(job, deadline), job) is None, "dealt with by the gate"
    assert await _released(tap, job) == "failed parent-4 timeout"
    # A deadline of an older parking finds nothing waiting under its generation: no release.
    stale = {names.HEADER_DEPENDENCIES: DependencyVerdict.deadline(parked.generation - 1).header()}
    assert await gate.verdict(await tap.deliver(job, stale), job) is None


async def test_a_dependent_parked_just_after_its_dependency_ended_here_is_released(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    """The watch can lag the parking's write: the worker that ended the dependency moments ago
    releases the dependent when its parking shows up (WaitingIndex's late parking)."""
    releases: list[asyncio.Task[None]] = []
    gate: DependencyGate | None = None

    def late(dependency: str, dependent: str, state: ResultStatus) -> None:
        assert gate is not None
        releases.append(asyncio.create_task(gate.release_late_parking(dependency, dependent, state)))

    waiting = WaitingIndex(late)
    gate, _, _ = wire_parts(host, waiting)
    # This worker ended parent-5 a moment ago; its result is not readable yet (so the parking's own
    # second look cannot release the dependent: only this worker can).
    waiting.ended("parent-5", "completed")
    bucket = await ensure_bucket(connection, resources.waiting_bucket(connection.settings))
    watch = KeyWatch(bucket, waiting.on_entry, meta_only=True)
    await watch.start()
    try:
        # Parked by a producer that looked before parent-5's result was written.
        late_child = envelope("late-1", depends_on=("parent-5",))
        await park(connection, [late_child], {"parent-5": None})
        await async_wait_for(lambda: bool(releases), timeout=5, what="the late parking seen by the watch")
        await asyncio.gather(*releases)
    finally:
        await watch.stop()
    assert await _released(tap, late_child) == "met"
