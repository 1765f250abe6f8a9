"""Acceptance tests of job dependencies (issue 4), with in-process workers on real NATS.

Dependents are parked in ``naq_waiting`` (no worker slot, no ack-pending capacity) and released
when their dependencies end; a failed or cancelled dependency fails them with
``DependencyFailedError``. Deadlines are about five times the stated figures (BRIEF §10).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

from harness.jobs import always_fail, fail_times, record_run, runs, sleep_then_record
from harness.waiting import async_wait_for
from harness.worker_processes import wait_consumer_drained
from harness.worker_runner import WorkerRunner, holds_for
from naq.client import ConfigurationError, DependencyFailedError, JobExecutionError, JobStatus, Queue, Settings
from naq.protocol import EventKind, EventRecord
from naq.protocol.names import EVENT_JOB_STATUS


async def test_dependent_starts_after_its_dependency_completes(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    async with run_worker(concurrency=4):
        a = await queue.enqueue(sleep_then_record, str(tmp_path), "a", 2.0)
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=a)
        assert await b.status() == JobStatus.WAITING
        assert await a.result(timeout=15) == "a"
        assert await b.result(timeout=10) == "b"
    [a_finished] = runs(tmp_path, "a")
    [b_started] = runs(tmp_path, "b")
    assert b_started >= a_finished


async def test_dependent_of_two_starts_after_both(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=4):
        a = await queue.enqueue(sleep_then_record, str(tmp_path), "a", 0.5)
        b = await queue.enqueue(sleep_then_record, str(tmp_path), "b", 1.0)
        c = await queue.enqueue(record_run, str(tmp_path), "c", depends_on=[a, b.job_id])
        assert await c.result(timeout=15) == "c"
    assert runs(tmp_path, "c")[0] >= max(runs(tmp_path, "a")[0], runs(tmp_path, "b")[0])


async def test_failed_dependency_fails_the_dependent(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=2):
        a = await queue.enqueue(always_fail, str(tmp_path), "a")
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=a)
        with pytest.raises(JobExecutionError):
            await a.result(timeout=10)
        with pytest.raises(DependencyFailedError, match=a.job_id):
            await b.result(timeout=5)
        assert await b.status() == JobStatus.FAILED
    assert runs(tmp_path, "b") == []


async def test_dependents_published_before_their_parent_all_complete_on_one_slot(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    # With concurrency 1, a dependent that held its slot while waiting would deadlock the worker.
    async with run_worker(concurrency=1):
        first = await queue.enqueue(record_run, str(tmp_path), "first", depends_on="parent-early")
        second = await queue.enqueue(record_run, str(tmp_path), "second", depends_on="parent-early")
        parent = await queue.enqueue(record_run, str(tmp_path), "parent", job_id="parent-early")
        assert await parent.result(timeout=10) == "parent"
        assert await first.result(timeout=10) == "first"
        assert await second.result(timeout=10) == "second"
    assert min(runs(tmp_path, "first") + runs(tmp_path, "second")) >= runs(tmp_path, "parent")[0]


async def test_a_thousand_waiting_dependents_hold_no_capacity(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    async with run_worker(concurrency=10):
        parent = await queue.enqueue(sleep_then_record, str(tmp_path), "parent", 3.0)
        dependents = await queue.enqueue_many(record_run, [(str(tmp_path), "dependent")] * 1000, depends_on=parent)
        unrelated = await queue.enqueue(record_run, str(tmp_path), "unrelated")
        # The unrelated job runs while the parent still runs and the dependents wait.
        assert await unrelated.result(timeout=5) == "unrelated"
        assert runs(tmp_path, "parent") == []
        assert await parent.result(timeout=15) == "parent"
        await async_wait_for(
            lambda: len(runs(tmp_path, "dependent")) >= 1000, timeout=60, interval=0.1, what="1,000 dependents ran"
        )
        assert await dependents[-1].result(timeout=5) == "dependent"
    assert len(runs(tmp_path, "dependent")) == 1000
    assert min(runs(tmp_path, "dependent")) >= runs(tmp_path, "parent")[0]
    assert runs(tmp_path, "unrelated")[0] < runs(tmp_path, "parent")[0]


async def test_a_chain_of_a_hundred_runs_in_order(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=4):
        jobs = [await queue.enqueue(record_run, str(tmp_path), "link-0")]
        for n in range(1, 100):
            jobs.append(await queue.enqueue(record_run, str(tmp_path), f"link-{n}", depends_on=jobs[-1]))
        assert await jobs[-1].result(timeout=60) == "link-99"
    starts = [runs(tmp_path, f"link-{n}") for n in range(100)]
    assert all(len(times) == 1 for times in starts)
    order = [times[0] for times in starts]
    assert order == sorted(order)
    gaps = sorted(b - a for a, b in itertools.pairwise(order))
    print(f"chain of 100: release-to-run gap p50 {gaps[len(gaps) // 2] * 1000:.1f} ms")


async def test_a_diamond_runs_its_join_exactly_once(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=2), run_worker(concurrency=2), run_worker(concurrency=2):
        joins = []
        for n in range(5):
            a = await queue.enqueue(record_run, str(tmp_path), f"a{n}")
            b = await queue.enqueue(sleep_then_record, str(tmp_path), f"b{n}", 0.2, depends_on=a)
            c = await queue.enqueue(sleep_then_record, str(tmp_path), f"c{n}", 0.2, depends_on=a)
            joins.append(await queue.enqueue(record_run, str(tmp_path), f"d{n}", depends_on=[b, c]))
        for join in joins:
            await join.result(timeout=15)
    for n in range(5):
        assert len(runs(tmp_path, f"d{n}")) == 1
        assert runs(tmp_path, f"d{n}")[0] >= max(runs(tmp_path, f"b{n}")[0], runs(tmp_path, f"c{n}")[0])


async def test_a_dependency_published_later_is_waited_for(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    async with run_worker(concurrency=2):
        dependent = await queue.enqueue(record_run, str(tmp_path), "dependent", depends_on="published-later")
        await holds_for(lambda: runs(tmp_path, "dependent") == [], 2.0, "the dependent waits for its dependency")
        assert await dependent.status() == JobStatus.WAITING
        late = await queue.enqueue(record_run, str(tmp_path), "late", job_id="published-later")
        assert await late.result(timeout=10) == "late"
        assert await dependent.result(timeout=10) == "dependent"
    assert runs(tmp_path, "dependent")[0] >= runs(tmp_path, "late")[0]


async def test_failure_cascades_down_the_graph(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=2):
        a = await queue.enqueue(always_fail, str(tmp_path), "a")
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=a)
        c = await queue.enqueue(record_run, str(tmp_path), "c", depends_on=b)
        with pytest.raises(DependencyFailedError, match=b.job_id):
            await c.result(timeout=10)
        with pytest.raises(DependencyFailedError, match=a.job_id):
            await b.result(timeout=5)
    assert runs(tmp_path, "b") == runs(tmp_path, "c") == []


async def test_a_failed_dependency_is_not_redelivered_in_a_loop(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, js: Any
) -> None:
    async with run_worker(concurrency=2):
        a = await queue.enqueue(always_fail, str(tmp_path), "a")
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=a)
        with pytest.raises(JobExecutionError):
            await a.result(timeout=10)
        with pytest.raises(DependencyFailedError):
            await b.result(timeout=5)
        # A's message is acknowledged just after its dependents are failed, so B's result can be
        # read a moment before that ack lands.
        await wait_consumer_drained(js, 5, "every delivery acknowledged")
        info = await js.consumer_info("naq_jobs", "naq-worker-default")
        assert info.num_redelivered == 0
        # Nothing more is delivered afterwards: no redelivery loop for the failed dependency.
        delivered = info.delivered.consumer_seq
        for _ in range(10):
            later = await js.consumer_info("naq_jobs", "naq-worker-default")
            assert (later.delivered.consumer_seq, later.num_redelivered) == (delivered, 0)
            await asyncio.sleep(0.1)
    assert len(runs(tmp_path, "a")) == 1


async def test_an_already_completed_dependency_lets_the_job_run_at_once(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    async with run_worker(concurrency=2):
        a = await queue.enqueue(record_run, str(tmp_path), "a")
        assert await a.result(timeout=10) == "a"
        b = await queue.enqueue(record_run, str(tmp_path), "b", depends_on=[a.job_id])
        assert await b.result(timeout=10) == "b"


async def test_a_dependency_that_never_comes_times_out(run_worker: WorkerRunner, queue: Queue, tmp_path: Path) -> None:
    async with run_worker(concurrency=2):
        started = time.monotonic()
        job = await queue.enqueue(record_run, str(tmp_path), "x", depends_on="never-published", dependency_timeout=1)
        with pytest.raises(DependencyFailedError, match=r"never-published.*dependency_timeout"):
            await job.result(timeout=15)
        assert time.monotonic() - started < 15
    assert runs(tmp_path, "x") == []


async def test_status_transitions_are_in_the_event_stream(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path, nc: Any
) -> None:
    seen: list[tuple[str, str]] = []

    async def on_event(message: Any) -> None:
        record = EventRecord.decode(message.data)
        seen.extend((job_id, record.kind) for job_id in record.job_ids)

    subscription = await nc.subscribe("naq.events.default.>", cb=on_event)
    try:
        async with run_worker(concurrency=2):
            job = await queue.enqueue(fail_times, str(tmp_path), "flaky", 1, max_retries=2, retry_delay=0.1)
            assert await job.result(timeout=10) == "done"
            await async_wait_for(
                lambda: (job.job_id, "completed") in seen, timeout=5, what="the completed event arrived"
            )
    finally:
        await subscription.unsubscribe()
    statuses = [str(EVENT_JOB_STATUS[EventKind(kind)]) for job_id, kind in seen if job_id == job.job_id]
    assert statuses == ["queued", "running", "retrying", "running", "completed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"depends_on": "not an id!"}, "depends_on"),
        ({"depends_on": ["ok", 42]}, "depends_on"),
        ({"depends_on": "self-dep", "job_id": "self-dep"}, "itself"),
        ({"depends_on": "a", "dependency_timeout": 0}, "dependency_timeout"),
        ({"depends_on": "a", "dependency_timeout": -5}, "dependency_timeout"),
        ({"depends_on": "a", "dependency_timeout": "soon"}, "dependency_timeout"),
        ({"dependency_timeout": 10}, "only meaningful with depends_on"),
        ({"depends_on": "a", "dependency_timeout": 10**9}, "NAQ_JOB_STATUS_TTL"),
    ],
)
async def test_bad_dependency_options_are_clear_errors_and_publish_nothing(
    queue: Queue, options: dict[str, Any], message: str, js: Any
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        await queue.enqueue(record_run, "/nonexistent", "x", **options)
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.stream_info("KV_naq_waiting")


async def test_the_dependency_timeout_must_fit_the_status_ttl(test_settings: Settings) -> None:
    short_status = Settings.from_env(test_settings.as_env(), job_status_ttl=3600)
    queue = Queue(settings=short_status)
    with pytest.raises(ConfigurationError, match="NAQ_JOB_STATUS_TTL"):
        await queue.enqueue(record_run, "/nonexistent", "x", depends_on="a")  # the 24 h default
    with pytest.raises(ConfigurationError, match="NAQ_JOB_STATUS_TTL"):
        await queue.enqueue(record_run, "/nonexistent", "x", depends_on="a", dependency_timeout=7200)
    await queue.enqueue(record_run, "/nonexistent", "x", depends_on="a", dependency_timeout=3600)
    assert Settings.from_env({"NAQ_DEPENDENCY_TIMEOUT": "60"}).dependency_timeout == 60.0
