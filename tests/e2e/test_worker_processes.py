"""Acceptance tests of issue 3 that need real worker processes and the ``naq`` command line.

Workers run as ``naq-worker`` subprocesses (started with the ``processes`` fixture and the
``naq_env`` environment), so SIGKILL, SIGTERM, ``os._exit`` and ``--burst`` are the real thing. The
``naq`` command runs as a subprocess too. Producers and checks run in the test process against the
same real NATS server; nothing is mocked.

Clocks are the shortened test clocks (ack wait 2 s, heartbeat 0.5 s, worker TTL 2 s); deadlines
are about 5x the figure they check (BRIEF §10). Every wait has a deadline and every loop a bound.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness import jobs
from harness.commands import Ran, run_script
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for
from harness.worker_processes import (
    consumer_state,
    live_worker_ids,
    result_record,
    running_on,
    spawn_worker,
    wait_consumer_drained,
    wait_registered,
    worker_logs,
)
from naq.client import Job, JobExecutionError, JobStatus, Queue
from naq.protocol import ResultRecord, Settings

QUEUE = "default"
CONSUMER = f"naq-worker-{QUEUE}"
JOBS_STREAM = "naq_jobs"
RESULTS_BUCKET = "naq_results"

# --- helpers -------------------------------------------------------------------------------------


async def run_cli(*args: str, env: Mapping[str, str], script: str = "naq", timeout: float = 30.0) -> Ran:
    """Run a console script to its end without blocking the event loop; fail after ``timeout``."""
    return await run_script(script, *args, env=env, timeout=timeout)


def run_pids(directory: Path, tag: str) -> list[int]:
    """Pids of the processes that ran ``tag`` (one per run), from record_run's lines."""
    path = directory / tag
    if not path.exists():
        return []
    return [int(line.split()[1]) for line in path.read_text().splitlines()]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
async def queue(client_env: dict[str, str]) -> AsyncIterator[Queue]:
    """The default queue, with the settings of ``client_env``; its connection is closed afterwards."""
    yield Queue(QUEUE)
    await naq.client.close()


# --- many jobs, many workers ---------------------------------------------------------------------


async def test_three_workers_run_300_jobs_exactly_once(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    workers = {f"w{i}": spawn_worker(processes, naq_env, f"w{i}", concurrency=4) for i in range(3)}
    await wait_registered(processes, workers)

    tags = [f"t{i:03d}" for i in range(300)]
    handles = await queue.enqueue_many("harness.jobs:record_run", [[str(run_dir), tag] for tag in tags])
    assert len({job.job_id for job in handles}) == 300

    try:
        values = await asyncio.wait_for(asyncio.gather(*(job.result(timeout=60) for job in handles)), 70)
    except TimeoutError:
        raise AssertionError(f"not every job ended:\n{worker_logs(processes, list(workers.values()))}") from None
    assert values == tags, "300 results, each the job's own tag"

    counts = {tag: len(jobs.runs(str(run_dir), tag)) for tag in tags}
    twice = {tag: n for tag, n in counts.items() if n != 1}
    assert not twice, f"jobs that did not run exactly once: {twice}"
    # Everything was acked, so nothing can come back later and run a second time.
    await wait_consumer_drained(js, 10, "every message acked")
    pids = {pid for tag in tags for pid in run_pids(run_dir, tag)}
    assert pids <= {p.pid for p in workers.values()}
    assert len(pids) >= 2, f"the jobs were shared between the worker processes, got pids {pids}"


# --- crashes -------------------------------------------------------------------------------------


async def test_sigkill_mid_job_another_worker_completes_it_after_the_ack_wait(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    workers = {name: spawn_worker(processes, naq_env, name) for name in ("k1", "k2")}
    await wait_registered(processes, workers)

    job = await queue.enqueue("harness.jobs:sleep_then_record", str(run_dir), "slow", 3.0, max_retries=0)
    victim = await async_wait_for(
        lambda: running_on(job.job_id), timeout=15, interval=0.05, what="the job running on a worker"
    )
    killed_at = time.monotonic()
    assert ProcessGroup.stop(workers[victim], sig=signal.SIGKILL) == -signal.SIGKILL
    [survivor] = [name for name in workers if name != victim]

    try:
        value = await job.result(timeout=30)
    except TimeoutError:
        raise AssertionError(f"job not completed:\n{worker_logs(processes, list(workers.values()))}") from None
    assert value == "slow"
    # Redelivered only once the ack wait (2 s) of the lost delivery ran out, then 3 s of work.
    assert time.monotonic() - killed_at >= 3.0

    record = await result_record(js, job.job_id)
    assert record is not None
    assert record.status == "completed"
    assert record.worker_id == survivor
    assert record.attempts == 1, "a crash is not a failed attempt"
    assert run_pids(run_dir, "slow") == [workers[survivor].pid], "the killed worker never finished it"
    await wait_consumer_drained(js, 10, "the redelivered message acked")
    assert await job.status() == JobStatus.COMPLETED


async def test_a_job_that_kills_its_worker_goes_to_the_dlq_and_the_workers_keep_serving(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    max_crashes = Settings.from_env(naq_env).max_crash_redeliveries
    assert max_crashes == 3, "the default NAQ_MAX_CRASH_REDELIVERIES"
    spawned = 0
    every: list[subprocess.Popen[bytes]] = []
    live: list[subprocess.Popen[bytes]] = []
    deaths: list[int] = []

    def spawn() -> subprocess.Popen[bytes]:
        nonlocal spawned
        spawned += 1
        process = spawn_worker(processes, naq_env, f"p{spawned}")
        every.append(process)
        return process

    def supervise() -> None:
        """What an orchestrator does: replace every worker that died (bounded)."""
        for index, process in enumerate(live):
            if process.poll() is not None:
                deaths.append(process.returncode)
                assert len(deaths) <= 10, f"workers keep dying:\n{worker_logs(processes, every)}"
                live[index] = spawn()

    live.extend([spawn(), spawn()])
    await wait_registered(processes, {"p1": live[0], "p2": live[1]})

    job = await queue.enqueue("harness.jobs:exit_process", str(run_dir), "poison", max_retries=0)

    async def supervised_result() -> ResultRecord | None:
        supervise()
        return await result_record(js, job.job_id)

    try:
        record = await async_wait_for(supervised_result, timeout=90, interval=0.1, what="the poison job's result")
    except TimeoutError:
        raise AssertionError(
            f"no result; {len(deaths)} death(s), {len(jobs.runs(str(run_dir), 'poison'))} run(s)\n"
            f"{worker_logs(processes, every)}"
        ) from None

    runs = jobs.runs(str(run_dir), "poison")
    assert 1 <= len(runs) <= max_crashes + 1, f"ran {len(runs)} times"
    assert record.status == "failed"
    assert record.error is not None
    assert "worker lost" in record.error.message, record.error
    with pytest.raises(JobExecutionError, match="worker lost"):
        await job.result(timeout=5)

    listed = await run_cli("failed", "list", env=naq_env)
    assert listed.code == 0, listed
    [line] = [line for line in listed.out.splitlines() if job.job_id in line]
    assert "worker lost" in line

    # The fleet is still up: replace the dead, then an ordinary job completes.
    async def a_live_worker() -> bool:
        supervise()
        return bool(await live_worker_ids() & {f"p{n}" for n in range(1, spawned + 1)})

    await async_wait_for(a_live_worker, timeout=30, interval=0.1, what="a live worker after the poison job")
    follow_up = await queue.enqueue("harness.jobs:add", 2, 3)
    assert await follow_up.result(timeout=30) == 5
    supervise()
    assert all(code == 1 for code in deaths), f"workers died with {deaths} (os._exit(1) expected)"
    assert len(deaths) == len(runs), "each run of the poison job took exactly one worker down, no more"
    assert all(process.poll() is None for process in live), "the fleet survives the poison job"


# --- capacity ------------------------------------------------------------------------------------


async def test_jobs_waiting_out_a_long_retry_backoff_hold_no_ack_pending_capacity(
    processes: ProcessGroup,
    naq_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    run_dir: Path,
    js: Any,
) -> None:
    max_ack_pending = 5
    env = {**naq_env, "NAQ_MAX_ACK_PENDING": str(max_ack_pending)}
    for key, value in env.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    try:
        worker = spawn_worker(processes, env, "ap1", concurrency=4)
        await wait_registered(processes, {"ap1": worker})
        info = await js.consumer_info(JOBS_STREAM, CONSUMER)
        assert info.config.max_ack_pending == max_ack_pending, "the consumer follows NAQ_MAX_ACK_PENDING"

        queue = Queue(QUEUE)
        tags = [f"backoff{i}" for i in range(max_ack_pending + 5)]
        backlog = [
            await queue.enqueue("harness.jobs:always_fail", str(run_dir), tag, max_retries=1, retry_delay=30)
            for tag in tags
        ]

        async def all_waiting_to_retry() -> bool:
            if any(len(jobs.runs(str(run_dir), tag)) != 1 for tag in tags):
                return False
            return all([await job.status() == JobStatus.RETRYING for job in backlog])

        try:
            await async_wait_for(all_waiting_to_retry, timeout=20, interval=0.1, what="every job waiting to retry")
        except TimeoutError:
            raise AssertionError(worker_logs(processes, [worker])) from None

        enqueued = time.monotonic()
        fresh = await queue.enqueue("harness.jobs:add", 2, 3)
        try:
            assert await fresh.result(timeout=10) == 5
        except TimeoutError:
            pending = await consumer_state(js)
            raise AssertionError(
                f"a new job did not run within 10 s; consumer (pending, ack pending) = {pending}\n"
                f"{worker_logs(processes, [worker])}"
            ) from None
        assert time.monotonic() - enqueued < 10
        # The backlog is still waiting (30 s), each job run exactly once so far.
        assert all(len(jobs.runs(str(run_dir), tag)) == 1 for tag in tags)
    finally:
        await naq.client.close()


# --- modes and signals ---------------------------------------------------------------------------


async def test_burst_worker_drains_the_queue_and_exits_0(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    tags = [f"burst{i}" for i in range(5)]
    handles = [await queue.enqueue("harness.jobs:record_run", str(run_dir), tag) for tag in tags]

    worker = spawn_worker(processes, naq_env, "burst1", "--burst", concurrency=2)
    try:
        await async_wait_for(lambda: worker.poll() is not None, timeout=30, interval=0.05, what="burst exit")
    except TimeoutError:
        raise AssertionError(f"--burst did not exit:\n{worker_logs(processes, [worker])}") from None
    assert worker.returncode == 0, worker_logs(processes, [worker])
    for job, tag in zip(handles, tags, strict=True):
        assert await job.result(timeout=5) == tag
        assert len(jobs.runs(str(run_dir), tag)) == 1
    assert await consumer_state(js) == (0, 0)
    assert "burst1" not in await live_worker_ids()


async def test_naq_worker_subcommand_burst_on_an_empty_queue_exits_0(queue: Queue, naq_env: dict[str, str]) -> None:
    ran = await run_cli("worker", QUEUE, "--burst", "--name", "sub1", env=naq_env)
    assert ran.code == 0, ran


async def test_sigterm_during_a_job_finishes_it_acks_it_and_deregisters_at_once(
    processes: ProcessGroup,
    naq_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    run_dir: Path,
    js: Any,
) -> None:
    # A long worker TTL, so leaving the registry "at once" cannot be confused with expiring.
    env = {**naq_env, "NAQ_WORKER_TTL": "30"}
    for key, value in env.items():
        if key.startswith("NAQ_"):
            monkeypatch.setenv(key, value)
    try:
        worker = spawn_worker(processes, env, "term1", concurrency=2)
        await wait_registered(processes, {"term1": worker})
        queue = Queue(QUEUE)
        job = await queue.enqueue("harness.jobs:sleep_then_record", str(run_dir), "term", 3.0)
        await async_wait_for(lambda: running_on(job.job_id), timeout=15, interval=0.05, what="the job running")

        worker.send_signal(signal.SIGTERM)
        try:
            assert await job.result(timeout=20) == "term"
        except TimeoutError:
            raise AssertionError(f"job did not finish:\n{worker_logs(processes, [worker])}") from None
        try:
            await async_wait_for(lambda: worker.poll() is not None, timeout=15, interval=0.05, what="worker exit")
        except TimeoutError:
            raise AssertionError(f"worker did not exit:\n{worker_logs(processes, [worker])}") from None
        exited = time.monotonic()
        assert worker.returncode == 0, worker_logs(processes, [worker])

        await async_wait_for(
            lambda: _absent("term1"), timeout=2, interval=0.05, what="the worker gone from list_workers"
        )
        assert time.monotonic() - exited < 2.0, "left the registry at once, not after its 30 s TTL"

        record = await result_record(js, job.job_id)
        assert record is not None
        assert record.status == "completed"
        assert len(jobs.runs(str(run_dir), "term")) == 1
        assert await consumer_state(js) == (0, 0), "the job was acked before the worker exited"
    finally:
        await naq.client.close()


async def _absent(worker_id: str) -> bool:
    return worker_id not in await live_worker_ids()


# --- the naq command line ------------------------------------------------------------------------


async def test_cli_failed_list_show_and_requeue_runs_the_job_again(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path, js: Any
) -> None:
    worker = spawn_worker(processes, naq_env, "cli-f1")
    await wait_registered(processes, {"cli-f1": worker})

    job = await queue.enqueue("harness.jobs:fail_times", str(run_dir), "flaky", 1, max_retries=0)
    with pytest.raises(JobExecutionError, match="failure 1 of 1"):
        await job.result(timeout=20)

    listed = await run_cli("failed", "list", env=naq_env)
    assert listed.code == 0, listed
    [line] = listed.out.splitlines()
    assert job.job_id in line
    assert QUEUE in line
    assert "PlannedError" in line

    as_json = await run_cli("failed", "list", "--json", env=naq_env)
    assert as_json.code == 0, as_json
    [summary] = [json.loads(line) for line in as_json.out.splitlines()]
    assert summary["id"] == job.job_id
    assert summary["function"] == "harness.jobs:fail_times"
    assert summary["attempts"] == 1

    shown = await run_cli("failed", "show", job.job_id, env=naq_env)
    assert shown.code == 0, shown
    assert job.job_id in shown.out
    assert "PlannedError" in shown.out
    assert "failure 1 of 1" in shown.out
    assert "Traceback" in shown.out

    requeued = await run_cli("failed", "requeue", job.job_id, env=naq_env)
    assert requeued.code == 0, requeued
    assert f"requeued {job.job_id}" in requeued.out
    try:
        assert await job.result(timeout=20) == "done", "the result reflects the new run"
    except TimeoutError:
        raise AssertionError(f"requeued job did not run:\n{worker_logs(processes, [worker])}") from None
    assert len(jobs.runs(str(run_dir), "flaky")) == 2

    after = await run_cli("failed", "list", env=naq_env)
    assert after.code == 0, after
    assert job.job_id not in after.out, "a requeued job leaves the dead-letter queue"
    missing = await run_cli("failed", "show", job.job_id, env=naq_env)
    assert missing.code == 1, missing


async def test_cli_failed_delete_all(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path
) -> None:
    worker = spawn_worker(processes, naq_env, "cli-d1", concurrency=2)
    await wait_registered(processes, {"cli-d1": worker})
    failing = [await queue.enqueue("harness.jobs:always_fail", str(run_dir), f"doomed{i}") for i in range(2)]
    for job in failing:
        with pytest.raises(JobExecutionError):
            await job.result(timeout=20)

    async def both_listed() -> bool:
        ran = await run_cli("failed", "list", env=naq_env)
        return ran.code == 0 and all(job.job_id in ran.out for job in failing)

    await async_wait_for(both_listed, timeout=20, interval=0.1, what="both failed jobs in the DLQ")

    deleted = await run_cli("failed", "delete", "--all", env=naq_env)
    assert deleted.code == 0, deleted
    assert "deleted 2 failed job(s)" in deleted.out
    listed = await run_cli("failed", "list", env=naq_env)
    assert listed.code == 0, listed
    assert listed.out.strip() == "no failed jobs", listed

    usage = await run_cli("failed", "delete", env=naq_env)
    assert usage.code == 4, "neither ids nor --all is a bad argument"


async def test_cli_purge_prints_the_count_and_leaves_other_queues_alone(
    queue: Queue, naq_env: dict[str, str], run_dir: Path
) -> None:
    for i in range(3):
        await queue.enqueue("harness.jobs:record_run", str(run_dir), f"purged{i}")
    await Queue("other").enqueue("harness.jobs:add", 1, 1)

    purged = await run_cli("purge", QUEUE, env=naq_env)
    assert purged.code == 0, purged
    assert purged.out.strip() == f"{QUEUE}: 3 job(s) purged"

    again = await run_cli("purge", QUEUE, "other", env=naq_env)
    assert again.code == 0, again
    assert again.out.splitlines() == [f"{QUEUE}: 0 job(s) purged", "other: 1 job(s) purged"]


async def test_cli_result_enqueue_wait_and_list_workers(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], run_dir: Path
) -> None:
    worker = spawn_worker(processes, naq_env, "cli-r1", concurrency=2)
    await wait_registered(processes, {"cli-r1": worker})

    enqueued = await run_cli("enqueue", "harness.jobs:add", "2", "3", "--wait", "10", env=naq_env)
    assert enqueued.code == 0, enqueued
    assert enqueued.out.strip() == "5"

    sent = await run_cli("enqueue", "harness.jobs:add", "20", "22", "--job-id", "cli-answer", env=naq_env)
    assert sent.code == 0, sent
    assert sent.out.strip() == "cli-answer"
    assert await Job("cli-answer", QUEUE, queue.settings).result(timeout=20) == 42

    shown = await run_cli("result", "cli-answer", env=naq_env)
    assert shown.code == 0, shown
    assert json.loads(shown.out) == 42

    unknown = await run_cli("result", "no-such-job", env=naq_env)
    assert unknown.code == 1, unknown

    failing = await queue.enqueue("harness.jobs:always_fail", str(run_dir), "x")
    with pytest.raises(JobExecutionError):
        await failing.result(timeout=20)
    failed = await run_cli("result", failing.job_id, env=naq_env)
    assert failed.code == 1, f"a failed job exits 1\n{failed}"

    workers = await run_cli("list-workers", env=naq_env)
    assert workers.code == 0, workers
    [line] = [line for line in workers.out.splitlines() if line.startswith("cli-r1 ")]
    assert f"pid={worker.pid}" in line
    assert f"queues={QUEUE}" in line

    as_json = await run_cli("list-workers", "--json", env=naq_env)
    assert as_json.code == 0, as_json
    [record] = [json.loads(line) for line in as_json.out.splitlines() if json.loads(line)["worker_id"] == "cli-r1"]
    assert record["pid"] == worker.pid
    assert record["concurrency"] == 2


async def test_cli_version(naq_env: dict[str, str]) -> None:
    ran = await run_cli("--version", env=naq_env)
    assert ran.code == 0, ran
    assert ran.out.strip() == f"naq {naq.client.__version__}"


async def test_cli_exit_codes(naq_env: dict[str, str]) -> None:
    unreachable = "nats://127.0.0.1:1"
    started = time.monotonic()
    ran = await run_cli("purge", QUEUE, "--nats-url", unreachable, env=naq_env)
    assert ran.code == 3, ran
    assert time.monotonic() - started < 15, "an unreachable server is reported within the connect timeout"
    assert "127.0.0.1:1" in ran.err

    ran = await run_cli("list-workers", "--nats-url", unreachable, env=naq_env)
    assert ran.code == 3, ran
    ran = await run_cli(QUEUE, "--nats-url", unreachable, "--burst", env=naq_env, script="naq-worker")
    assert ran.code == 3, ran

    # Bad settings and arguments: 4.
    ran = await run_cli("purge", QUEUE, "--log-level", "LOUD", env=naq_env)
    assert ran.code == 4, ran
    ran = await run_cli("purge", QUEUE, env={**naq_env, "NAQ_MAX_ACK_PENDING": "0"})
    assert ran.code == 4, ran
    ran = await run_cli("list-workers", env={**naq_env, "NAQ_DEFAULT_ACK_WAIT": "soon"})
    assert ran.code == 4, ran
    ran = await run_cli("enqueue", "harness.jobs:add", "not-json", env=naq_env)
    assert ran.code == 4, ran
    ran = await run_cli("purge", "bad.queue", env=naq_env)
    assert ran.code == 4, ran
    ran = await run_cli(QUEUE, "--concurrency", "0", "--burst", env=naq_env, script="naq-worker")
    assert ran.code == 4, ran

    # Not found: 1.
    ran = await run_cli("result", "never-enqueued", env=naq_env)
    assert ran.code == 1, ran
    ran = await run_cli("failed", "show", "never-failed", env=naq_env)
    assert ran.code == 1, ran
