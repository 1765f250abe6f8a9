"""Signed jobs and the scheduler: the designed exception. The producer signs a schedule's job
template; a ``naq-scheduler`` holding ``NAQ_SIGNING_KEY`` checks that signature before each run
and signs the run (its own id and time) itself; a ``naq-worker`` with the key runs it. A record
written into the schedules bucket by someone without the key fires nothing: it is marked failed.

Real processes, keys passed the way deployments pass them (the environment variable).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness import jobs
from harness.processes import ProcessGroup
from harness.schedules import SCHEDULER_POLL, published_runs, schedule_record
from harness.waiting import async_wait_for
from naq.client import Queue, Settings
from naq.protocol import ScheduleStatus, names

KEY = "k1:scheduler-producer-worker-secret"


@pytest.fixture
def signed_env(naq_env: dict[str, str]) -> dict[str, str]:
    """The subprocesses' environment with the signing key and the test jobs' module allowed."""
    return {**naq_env, "NAQ_SIGNING_KEY": KEY, "NAQ_ALLOWED_MODULES": "harness"}


@pytest.fixture
def signed_served(processes: ProcessGroup, signed_env: dict[str, str]) -> ProcessGroup:
    """A scheduler and a worker, both holding the key."""
    processes.spawn("naq-scheduler", "--poll-interval", str(SCHEDULER_POLL), env=signed_env)
    processes.spawn("naq-worker", "--concurrency", "4", env=signed_env)
    return processes


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue of a producer holding the key."""
    yield Queue(settings=Settings.from_env(test_settings.as_env(), signing_key=KEY))
    await naq.client.close()


async def test_scheduled_and_delayed_runs_are_signed_by_the_scheduler_and_run(
    signed_served: ProcessGroup, queue: Queue, tmp_path: Path
) -> None:
    job = await queue.enqueue_in(0.5, jobs.record_run, str(tmp_path), "delayed")
    await queue.schedule(jobs.record_run, str(tmp_path), "recurring", interval=0.5, repeat=2)
    assert await job.result(timeout=20) == "delayed"

    def two_runs() -> bool:
        return len(jobs.runs(str(tmp_path), "recurring")) >= 2

    await async_wait_for(two_runs, timeout=20, interval=0.1, what="two signed recurring runs")
    assert [e async for e in naq.client.failed_jobs(nats_url=queue.settings.servers[0])] == []


async def _tamper(js: Any, schedule_id: str, change: Any) -> None:
    """Rewrite a stored record as someone with bucket access but no key would: the job changed,
    the producer's signature copied along, the run due now."""
    record = await schedule_record(js, schedule_id)
    assert record is not None
    assert record.signature is not None
    tampered = dataclasses.replace(record, job=change(record.job), next_run_at=time.time())
    kv = await js.key_value(names.SCHEDULES_BUCKET)
    await kv.put(schedule_id, tampered.encode())


async def test_a_schedule_rewritten_without_the_key_is_marked_failed_and_runs_nothing(
    processes: ProcessGroup, signed_env: dict[str, str], queue: Queue, tmp_path: Path, js: Any, nc: Any
) -> None:
    recurring = await queue.schedule(jobs.record_run, str(tmp_path), "legit", interval=3600, schedule_id="hourly")
    one_off = await queue.enqueue_in(3600, jobs.record_run, str(tmp_path), "legit-once")
    evil = [str(tmp_path), "evil"]
    await _tamper(js, recurring.schedule_id, lambda job: dataclasses.replace(job, payload={"args": evil, "kwargs": {}}))
    await _tamper(js, one_off.job_id, lambda job: dataclasses.replace(job, function="harness.jobs:noop"))
    scheduler = processes.spawn("naq-scheduler", "--poll-interval", str(SCHEDULER_POLL), env=signed_env)

    async def both_failed() -> list[Any] | None:
        records = [await schedule_record(js, sid) for sid in (recurring.schedule_id, one_off.job_id)]
        if all(r is not None and r.status == ScheduleStatus.FAILED for r in records):
            return records
        return None

    records = await async_wait_for(both_failed, timeout=15, interval=0.1, what="both schedules marked failed")
    for record in records:
        assert "signature does not verify" in (record.last_error or "")
        assert record.runs == 0
    assert await published_runs(nc) == {}  # nothing was enqueued
    assert "signature does not verify" in processes.output(scheduler)
    assert jobs.runs(str(tmp_path), "evil") == []
