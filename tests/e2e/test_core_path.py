"""Acceptance tests of the core job path (issue 3): enqueue, run, retry, result, dead letters.

Every test runs a real :class:`naq.worker.Worker` in this process, on the test's event loop, against
the session's real nats-server; clocks are the shortened test clocks (``test_settings``: ack wait
2 s, heartbeat 0.5 s, worker TTL 2 s). Waits use deadlines (``async_wait_for``) about five times
the figure the issue states; the few "nothing else happens" checks are short, bounded observation
windows (:func:`holds_for`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.jobs import (
    PlannedError,
    add,
    always_fail,
    async_add,
    async_sleep_then_record,
    fail_times,
    fail_with,
    raise_system_exit,
    record_run,
    runs,
    sleep_then_record,
    unpicklable_result,
    with_context,
)
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner, holds_for
from naq.client import (
    JobExecutionError,
    JobNotFoundError,
    NaqConnectionError,
    Queue,
    QueueFullError,
    Settings,
)
from naq.client._connection import get_connection
from naq.client._failed import FailedEntry, list_failed, requeue_failed
from naq.protocol import FailedJobRecord, UndecodableMessageRecord

JOBS_STREAM = "naq_jobs"
RESULTS_STREAM = "KV_naq_results"
WORKERS_BUCKET = "naq_workers"


async def dead_letters(settings: Settings) -> list[FailedEntry]:
    """Every record in the dead-letter queue."""
    return await list_failed(await get_connection(settings))


async def dead_letter_of(settings: Settings, entry_id: str) -> FailedEntry:
    """The dead-letter record ``entry_id``, waiting briefly for it.

    The worker writes a failed job's result before its dead-letter record, so a client that has
    just seen the failure may read the dead-letter queue a moment too early.
    """

    async def found() -> list[FailedEntry]:
        return [entry for entry in await dead_letters(settings) if entry.id == entry_id]

    [entry] = await async_wait_for(found, timeout=10, what=f"dead-letter record {entry_id}")
    return entry


async def expect_failure(job: naq.client.Job, timeout: float) -> JobExecutionError:
    """Wait for ``job`` to fail for good; its ``JobExecutionError``."""
    with pytest.raises(JobExecutionError) as caught:
        await job.result(timeout=timeout)
    return caught.value


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# --- enqueue -> run -> result -------------------------------------------------------------------


async def test_sync_and_async_functions_return_their_results(run_worker: WorkerRunner, queue: Queue) -> None:
    async with run_worker():
        sync_job = await queue.enqueue(add, 2, 3)
        async_job = await queue.enqueue(async_add, 2, 3)
        assert await sync_job.result(timeout=25) == 5
        assert await async_job.result(timeout=25) == 5


async def test_result_waits_started_as_the_job_finishes_never_miss_the_result(
    run_worker: WorkerRunner, queue: Queue
) -> None:
    # Two fast jobs enqueued back to back, then their results awaited: the first one's result is
    # often written at the very moment its wait subscribes to the key and reads it.
    async with run_worker():
        for i in range(100):
            first = await queue.enqueue(add, i, 1)
            second = await queue.enqueue(async_add, i, 2)
            assert await first.result(timeout=5) == i + 1, f"round {i}, first job"
            assert await second.result(timeout=5) == i + 2, f"round {i}, second job"


async def test_heartbeat_advances_while_a_long_sync_job_runs(
    run_worker: WorkerRunner, queue: Queue, nats_url: str, tmp_path: Path
) -> None:
    async with run_worker(concurrency=1) as worker:
        job = await queue.enqueue(sleep_then_record, str(tmp_path), "long", 3.0)
        beats: list[float] = []

        async def beats_during_the_job() -> bool:
            [mine] = [w for w in await naq.client.list_workers(nats_url=nats_url) if w.worker_id == worker.worker_id]
            if job.job_id in mine.current_jobs and (not beats or mine.heartbeat_at != beats[-1]):
                beats.append(mine.heartbeat_at)
            return len(beats) >= 4

        # Heartbeats every 0.5 s: four distinct ones while the 3 s job is still running. A blocked
        # event loop would stop the beats until the job ends, and then the job is no longer current.
        await async_wait_for(beats_during_the_job, timeout=15, interval=0.1, what="4 heartbeats during the job")
        assert all(earlier < later for earlier, later in itertools.pairwise(beats)), (
            f"heartbeat_at must advance: {beats}"
        )
        assert await job.result(timeout=15) == "long"
        assert len(runs(str(tmp_path), "long")) == 1


async def test_on_startup_state_reaches_jobs_through_the_context(run_worker: WorkerRunner, queue: Queue) -> None:
    async with run_worker(on_startup=lambda state: state.update(db="pool")):
        job = await queue.enqueue(with_context, 7)
        assert await job.result(timeout=25) == {
            "job_id": job.job_id,
            "attempt": 1,
            "queue": "default",
            "a": 7,
            "state": "pool",
        }


async def test_the_same_job_id_enqueued_twice_is_one_job(
    run_worker: WorkerRunner, queue: Queue, js: Any, tmp_path: Path
) -> None:
    first = await queue.enqueue(record_run, str(tmp_path), "dup", job_id="same-job-id")
    second = await queue.enqueue(record_run, str(tmp_path), "dup", job_id="same-job-id")
    assert first.job_id == second.job_id == "same-job-id"
    assert (await js.stream_info(JOBS_STREAM)).state.messages == 1
    async with run_worker():
        assert await second.result(timeout=25) == "dup"
        assert len(runs(str(tmp_path), "dup")) == 1


# --- retries, failures and the dead-letter queue -------------------------------------------------


async def test_failing_job_runs_max_retries_plus_one_times_then_dlq_and_requeue_runs_it_again(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    async with run_worker():
        # Fails on each of its first 3 runs (= always failing, for max_retries=2), succeeds after.
        job = await queue.enqueue(fail_times, directory, "flaky", 3, max_retries=2)
        error = await expect_failure(job, timeout=30)
        assert len(runs(directory, "flaky")) == 3
        assert error.job_id == job.job_id
        assert error.error_type == "harness.jobs:PlannedError"
        assert error.error_message == "failure 3 of 3"
        assert "PlannedError" in error.traceback
        assert "fail_times" in error.traceback

        entry = await dead_letter_of(test_settings, job.job_id)
        assert [e.id for e in await dead_letters(test_settings)] == [job.job_id], "exactly one DLQ record"
        assert isinstance(entry.record, FailedJobRecord)
        assert entry.record.attempts == 3
        assert entry.record.error.type == "harness.jobs:PlannedError"
        assert entry.record.job.job_id == job.job_id

        # Right away, well inside the duplicate window: the requeued job must not be dropped as a duplicate.
        await requeue_failed(await get_connection(test_settings), entry)
        assert await job.result(timeout=25) == "done"
        assert len(runs(directory, "flaky")) == 4
        assert await dead_letters(test_settings) == []
        # Longer than the ack wait: no further run of either the original or the requeued message.
        await holds_for(lambda: len(runs(directory, "flaky")) == 4, 3.0, "the job ran again after it completed")


async def test_fails_twice_then_succeeds_within_three_retries(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path
) -> None:
    async with run_worker():
        job = await queue.enqueue(fail_times, str(tmp_path), "twice", 2, max_retries=3)
        assert await job.result(timeout=30) == "done"
        assert len(runs(str(tmp_path), "twice")) == 3
        assert await job.status() == "completed"
        assert await dead_letters(test_settings) == []


async def test_retry_delays_follow_the_list_the_exponential_strategy_and_long_delays(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    async with run_worker():
        listed = await queue.enqueue(always_fail, directory, "list", max_retries=2, retry_delay=[1, 2])
        exponential = await queue.enqueue(
            always_fail, directory, "exp", max_retries=3, retry_delay=1, retry_strategy="exponential"
        )
        # Longer than the nak limit (5 s): goes through a server-side schedule.
        scheduled = await queue.enqueue(always_fail, directory, "sched", max_retries=1, retry_delay=6)
        for job in (listed, exponential, scheduled):
            await expect_failure(job, timeout=45)

    expected = {"list": [1, 2], "exp": [1, 2, 4], "sched": [6]}
    for tag, delays in expected.items():
        measured = gaps(runs(directory, tag))
        assert len(measured) == len(delays), f"{tag}: {len(measured) + 1} runs, expected {len(delays) + 1}"
        for gap, delay in zip(measured, delays, strict=True):
            assert delay - 0.01 <= gap < delay + 5, f"{tag}: gaps {measured}, expected at least {delays}"


@pytest.mark.parametrize("serializer", ["json", "pickle"])
async def test_retry_on_and_ignore_on_are_respected(
    run_worker: WorkerRunner, queue: Queue, serializer: str, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    cases = {
        # tag: (filter option, error raised, runs expected with max_retries=2)
        "retry_on-match": ({"retry_on": [PlannedError]}, "PlannedError", 3),
        "retry_on-other": ({"retry_on": [PlannedError]}, "OtherError", 1),
        "ignore_on-match": ({"ignore_on": [PlannedError]}, "PlannedError", 1),
        "ignore_on-other": ({"ignore_on": [PlannedError]}, "OtherError", 3),
        "retry_on-by-name": ({"retry_on": ["harness.jobs:OtherError"]}, "OtherError", 3),
    }
    async with run_worker(concurrency=len(cases), allow_pickle=True):
        jobs = {
            tag: await queue.enqueue(
                fail_with, directory, tag, error, max_retries=2, serializer=serializer, **filter_option
            )
            for tag, (filter_option, error, _) in cases.items()
        }
        for tag, job in jobs.items():
            error = await expect_failure(job, timeout=30)
            assert error.error_type == f"harness.jobs:{cases[tag][1]}"
    assert {tag: len(runs(directory, tag)) for tag in cases} == {tag: case[2] for tag, case in cases.items()}


# --- timeouts and concurrency ---------------------------------------------------------------------


@pytest.mark.parametrize("function", [sleep_then_record, async_sleep_then_record], ids=["sync", "async"])
async def test_timeout_fails_the_job_quickly_and_it_does_not_run_again(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, function: Any, tmp_path: Path
) -> None:
    starts: list[str] = []
    async with run_worker(before_job=lambda ctx: starts.append(ctx.job_id)):
        began = time.monotonic()
        job = await queue.enqueue(function, str(tmp_path), "slow", 5.0, timeout=1)
        error = await expect_failure(job, timeout=10)
        elapsed = time.monotonic() - began
        assert elapsed < 10, f"the timeout took {elapsed:.1f} s to fail the job"
        assert "timeout" in error.error_type.lower() or "timeout" in error.error_message.lower(), error
        assert starts == [job.job_id]
        # Longer than the ack wait (2 s): a timed-out job is not delivered and run again.
        await holds_for(lambda: starts == [job.job_id], 3.0, f"the timed-out job ran again: {starts}")
        await dead_letter_of(test_settings, job.job_id)
        assert len(await dead_letters(test_settings)) == 1


async def test_concurrency_two_never_runs_more_than_two_jobs_at_once(
    run_worker: WorkerRunner, queue: Queue, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    running: set[str] = set()
    most = 0
    sampled: list[int] = []

    def before(ctx: Any) -> None:
        nonlocal most
        running.add(ctx.job_id)
        most = max(most, len(running))

    def after(ctx: Any, error: BaseException | None) -> None:
        running.discard(ctx.job_id)

    async with run_worker(concurrency=2, before_job=before, after_job=after) as worker:
        jobs = await queue.enqueue_many(record_run, [[directory, "conc", 1.0]] * 6)

        def all_recorded() -> bool:
            sampled.append(len(worker.running_job_ids()))
            return len(runs(directory, "conc")) == 6

        await async_wait_for(all_recorded, timeout=20, interval=0.05, what="six 1 s jobs done")
        for job in jobs:
            assert await job.result(timeout=10) == "conc"

    assert max(sampled) <= 2, f"sampled running jobs: {sampled}"
    assert most == 2, f"at most {most} jobs ran at once (concurrency 2)"
    # record_run stamps the end of each 1 s job: three ends within 1 s would mean three ran at once.
    ends = sorted(runs(directory, "conc"))
    assert all(later - earlier >= 0.95 for earlier, later in zip(ends, ends[2:], strict=False)), ends


# --- queues, connections, the sync API -----------------------------------------------------------


async def test_purge_returns_the_count_and_leaves_other_queues_alone(test_settings: Settings) -> None:
    first = Queue("first", settings=test_settings)
    second = Queue("second", settings=test_settings)
    try:
        await first.enqueue_many(add, [[1, 2]] * 3)
        await second.enqueue_many(add, [[1, 2]] * 2)
        assert await first.purge() == 3
        assert await first.purge() == 0
        assert await second.purge() == 2
    finally:
        await naq.client.close()


async def test_bad_nats_url_is_a_connection_error_within_the_connect_timeout(
    test_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1 of the loopback interface.
    bad = dataclasses.replace(test_settings, nats_url=("nats://127.0.0.1:1",))
    began = time.monotonic()
    with pytest.raises(NaqConnectionError):
        await Queue(settings=bad).enqueue(add, 2, 3)
    assert time.monotonic() - began < bad.connect_timeout + 1.0
    # Module-level functions take their connect timeout from the environment.
    monkeypatch.setenv("NAQ_NATS_CONNECT_TIMEOUT", "1.5")
    began = time.monotonic()
    with pytest.raises(NaqConnectionError):
        await naq.client.fetch_job_result("some-job", nats_url="nats://127.0.0.1:1")
    assert time.monotonic() - began < 1.5 + 1.0


async def test_sync_twins_enqueue_many_times_fetch_results_and_results_expire(
    run_worker: WorkerRunner, test_settings: Settings, nats_url: str
) -> None:
    def enqueue_a_thousand() -> list[str]:
        return [naq.client.enqueue_sync(add, i, i, queue_name="bulk", nats_url=nats_url).job_id for i in range(1000)]

    ids = await asyncio.to_thread(enqueue_a_thousand)
    assert len(set(ids)) == 1000
    assert await Queue("bulk", settings=test_settings).purge() == 1000

    async with run_worker():
        job = await asyncio.to_thread(naq.client.enqueue_sync, add, 2, 3, nats_url=nats_url, result_ttl=2)
        assert await asyncio.to_thread(job.result, 25) == 5  # a SyncJob: its wait blocks, so not on this loop
        assert await asyncio.to_thread(naq.client.fetch_job_result_sync, job.job_id, nats_url) == 5

        async def gone() -> bool:
            try:
                await asyncio.to_thread(naq.client.fetch_job_result_sync, job.job_id, nats_url)
            except JobNotFoundError:
                return True
            return False

        await async_wait_for(gone, timeout=15, interval=0.2, what="the result expired after result_ttl=2")


# --- bad input never kills a worker ---------------------------------------------------------------


async def test_garbage_on_the_queue_goes_to_the_dlq_and_the_worker_goes_on(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, js: Any
) -> None:
    async with run_worker() as worker:
        ack = await js.publish("naq.queue.default", b"\x00 this is not a naq job \xff")
        job = await queue.enqueue(add, 2, 3)
        assert await job.result(timeout=25) == 5

        entry = await dead_letter_of(test_settings, f"_raw.{ack.seq}")
        assert entry.raw
        assert isinstance(entry.record, UndecodableMessageRecord)
        assert entry.record.error.message
        assert [e.id for e in await dead_letters(test_settings)] == [entry.id]
        assert worker.failed == 1
        assert not run_worker.task(worker).done()


BAD_JOBS = {
    # id: (enqueue arguments, enqueue options, expected in error type, expected in error message)
    "unknown-function": (("harness.jobs:no_such_function",), {}, "JobRejectedError", "cannot import"),
    "unknown-module": (("harness.no_such_module:function",), {}, "JobRejectedError", "cannot import"),
    "pickle-not-allowed": ((add, 2, 3), {"serializer": "pickle"}, "JobRejectedError", "pickle"),
    "module-not-allowed": (("json:dumps", [1]), {}, "JobRejectedError", "allowed modules"),
    "unserializable-result": ((unpicklable_result,), {}, "SerializationError", ""),
    "system-exit": ((raise_system_exit,), {}, "SystemExit", "3"),
}


@pytest.mark.parametrize("case", list(BAD_JOBS))
async def test_bad_job_fails_with_a_clear_error_and_the_worker_goes_on(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, case: str
) -> None:
    call, options, error_type, error_text = BAD_JOBS[case]
    async with run_worker(allowed_modules=["harness"], allow_pickle=False) as worker:
        job = await queue.enqueue(*call, **options)
        error = await expect_failure(job, timeout=25)
        assert error_type in error.error_type
        assert error_text in error.error_message
        assert error.error_message, "a clear error says what went wrong"

        entry = await dead_letter_of(test_settings, job.job_id)
        assert [e.id for e in await dead_letters(test_settings)] == [job.job_id]
        assert isinstance(entry.record, FailedJobRecord)
        assert entry.record.error.type == error.error_type
        assert entry.record.error.message == error.error_message

        after = await queue.enqueue(add, 2, 3)
        assert await after.result(timeout=25) == 5
        await async_wait_for(lambda: worker.processed == 1, timeout=5, what="the add job counted as processed")
        assert worker.failed == 1
        assert not run_worker.task(worker).done()


# --- bounded storage ------------------------------------------------------------------------------


@pytest.mark.slow
async def test_full_results_bucket_neither_crashes_nor_spins_the_worker(
    run_worker: WorkerRunner, test_settings: Settings, nc: Any, js: Any, nats_url: str, tmp_path: Path
) -> None:
    tiny = dataclasses.replace(test_settings, results_max_bytes=2048)
    storage_errors: list[float] = []

    async def on_storage_error(message: Any) -> None:
        storage_errors.append(time.monotonic())

    await nc.subscribe("naq.events._sys.storage_error", cb=on_storage_error)
    runs_of: dict[str, int] = {}

    def count(ctx: Any) -> None:
        runs_of[ctx.job_id] = runs_of.get(ctx.job_id, 0) + 1

    async def stored_results() -> int:
        return (await js.stream_info(RESULTS_STREAM)).state.messages

    async def heartbeat_at() -> float:
        [mine] = [w for w in await naq.client.list_workers(nats_url=nats_url) if w.worker_id == worker.worker_id]
        return mine.heartbeat_at

    async with run_worker(concurrency=1, settings=tiny, before_job=count) as worker:
        # The worker touched the results bucket first: it was created with naq's (tiny) limit.
        assert (await js.stream_info(RESULTS_STREAM)).config.max_bytes == 2048
        queue = Queue(settings=tiny)
        # One ~1.3 KB result takes most of the 2 KB bucket ...
        await queue.enqueue(add, "x" * 900, "")
        await async_wait_for(stored_results, timeout=15, what="the first result stored")
        # ... so the next one cannot be written (the bucket discards new writes when full).
        stuck = await queue.enqueue(add, "y" * 900, "")
        await async_wait_for(
            lambda: storage_errors, timeout=15, what="a storage_error event for the result that cannot be written"
        )
        assert await stored_results() == 1

        # The stuck job holds no slot while it waits for its delayed redelivery: other work runs.
        other = await queue.enqueue(record_run, str(tmp_path), "other", result_ttl=0)
        await async_wait_for(lambda: runs(str(tmp_path), "other"), timeout=15, what=f"job {other.job_id} ran")

        beat_before = await heartbeat_at()
        errors_before, runs_before = len(storage_errors), runs_of.get(stuck.job_id, 0)
        window = 10.0
        task = run_worker.task(worker)
        await holds_for(lambda: not task.done(), window, "the worker stopped", interval=0.2)
        beat_after = await heartbeat_at()

        assert beat_after - beat_before >= window - 2, "heartbeats stopped while the bucket was full"
        new_errors = len(storage_errors) - errors_before
        new_runs = runs_of.get(stuck.job_id, 0) - runs_before
        assert 1 <= new_errors <= 6, f"{new_errors} storage errors in {window} s (a tight loop, or no redelivery)"
        assert new_runs <= 6, f"the stuck job ran {new_runs} times in {window} s"


async def test_full_queue_gives_the_producer_queue_full_error(test_settings: Settings) -> None:
    small = dataclasses.replace(test_settings, queue_max_bytes=4096)
    queue = Queue(settings=small)
    try:

        async def refused() -> bool:
            try:
                await queue.enqueue(add, "x" * 1000, "")
            except QueueFullError:
                return True
            return False

        # The fullness check is cached for about a second, so a few more jobs may get in first.
        await async_wait_for(refused, timeout=15, interval=0.1, what="QueueFullError")
    finally:
        await naq.client.close()
