"""Least privilege (docs/security.md): every component under its own user of the example server
configuration, and what a producer and a monitor are refused.

The server runs THE example file of the docs (harness.permissions). Refusals are asserted by the
server's permissions violation (naq's error quotes it; raw writes are seen on the connection),
never by a timeout. A worker and a scheduler run as subprocesses, like a deployment's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness import jobs
from harness.permissions import RawClient, inbox_prefix, permissioned_server, role_settings, role_url, violations
from harness.processes import ProcessGroup
from harness.servers import NatsServer
from harness.waiting import async_wait_for
from naq.client import Job, JobExecutionError, NaqError, Queue
from naq.protocol import Settings, names
from naq.tui.app import MonitorApp
from naq.tui.data import NatsDataSource
from naq.tui.widgets import FailedTable, QueuesTable, SchedulesTable, StatusBar

JOB_MODULE = "harness.jobs"
REFUSED = "permissions violation"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh server with the example configuration (and no naq streams yet)."""
    with permissioned_server(tmp_path / "server") as running:
        yield running


@pytest.fixture
async def closing_naq() -> AsyncIterator[None]:
    """naq's connections of this loop closed after the test."""
    yield
    await naq.client.close()


def _as(monkeypatch: pytest.MonkeyPatch, server: NatsServer, role: str) -> str:
    """The URL for the API's ``nats_url`` as ``naq-<role>``, its inbox prefix set in the environment
    (as a process of that role would have it)."""
    monkeypatch.setenv("NAQ_NATS_INBOX_PREFIX", inbox_prefix(role))
    return role_url(server, role)


def _env(naq_env: dict[str, str], settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in naq_env.items() if not k.startswith("NAQ_")}
    return {**env, **settings.as_env(), "NAQ_LOG_LEVEL": "DEBUG"}


def _setup(processes: ProcessGroup, naq_env: dict[str, str], server: NatsServer) -> str:
    """``naq setup`` as the admin; its output."""
    setup = processes.spawn("naq", "setup", env=_env(naq_env, role_settings(server, "admin")))
    assert setup.wait(30) == 0, processes.output(setup)
    return processes.output(setup)


async def test_a_component_started_before_setup_says_to_run_it(
    server: NatsServer, processes: ProcessGroup, naq_env: dict[str, str], closing_naq: None
) -> None:
    started = time.monotonic()
    with pytest.raises(NaqError, match=r"naq_jobs does not exist.*run `naq setup`"):
        await Queue(settings=role_settings(server, "producer")).enqueue(jobs.add, 1, 2)
    assert time.monotonic() - started < 5, "the refusal waited out a timeout"
    worker = processes.spawn(
        "naq-worker", "--allow-module", JOB_MODULE, env=_env(naq_env, role_settings(server, "worker"))
    )
    assert worker.wait(30) != 0
    assert "run `naq setup`" in processes.output(worker)
    # The admin's setup creates every stream and bucket; run again, it changes nothing.
    first = _setup(processes, naq_env, server)
    assert first.count(": created") == 9, first
    again = _setup(processes, naq_env, server)
    assert again.count(": unchanged") == 9, again


async def test_each_component_works_under_its_own_user(
    server: NatsServer,
    processes: ProcessGroup,
    naq_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    closing_naq: None,
) -> None:
    _setup(processes, naq_env, server)
    worker_settings = role_settings(server, "worker")
    processes.spawn("naq-worker", "--allow-module", JOB_MODULE, "-c", "4", env=_env(naq_env, worker_settings))
    # Two schedulers: one leads, the other watches the lock (both paths under the user's rights).
    for _ in range(2):
        processes.spawn("naq-scheduler", env=_env(naq_env, role_settings(server, "scheduler")))
    producer = Queue(settings=role_settings(server, "producer"))
    runs = str(tmp_path)
    failing = await _as_producer(producer, runs)
    extra = await _as_operator(_as(monkeypatch, server, "operator"), server, producer, runs, failing)
    # Something for the monitor to read: a dead-lettered job and a schedule.
    dead = await producer.enqueue(jobs.always_fail, runs, "dead", max_retries=0)
    with pytest.raises(JobExecutionError):
        await dead.result(timeout=20)
    await producer.schedule(jobs.add, 1, 1, interval=3600, schedule_id="hourly")
    await _as_monitor(_as(monkeypatch, server, "monitor"), extra, dead)
    # Nothing was refused, but the monitor's deletes of its own read consumers (which it may not
    # delete: the server removes them when idle), asked once per stream and connection.
    refused = violations(server)
    unexpected = [line for line in refused if not _a_monitor_deleting_its_read(line)]
    assert unexpected == [], "a component did something its user may not"
    assert len(refused) <= 3, refused


async def _as_producer(producer: Queue, runs: str) -> Job:
    """Enqueue and read results: a dependency, a delayed job, a schedule the scheduler fires, a job
    that is retried (a delayed publish by the worker) and dead-lettered; returns that job."""
    job = await producer.enqueue(jobs.add, 1, 2)
    assert await job.result(timeout=20) == 3
    slow = await producer.enqueue(jobs.sleep_then_record, runs, "slow", 1.0)
    dependent = await producer.enqueue(jobs.add, 2, 2, depends_on=[slow])
    assert await dependent.result(timeout=20) == 4
    later = await producer.enqueue_in(1, jobs.add, 3, 3)
    await producer.schedule(jobs.record_run, runs, "every", interval=0.5, repeat=2)
    assert await later.result(timeout=20) == 6
    await async_wait_for(lambda: len(jobs.runs(runs, "every")) >= 2, timeout=20, what="two scheduled runs")
    failing = await producer.enqueue(jobs.always_fail, runs, "fail", max_retries=1, retry_delay=1)
    with pytest.raises(JobExecutionError):
        await failing.result(timeout=20)
    assert await job.status() == naq.client.JobStatus.COMPLETED
    return failing


async def _as_operator(operator: str, server: NatsServer, producer: Queue, runs: str, failing: Job) -> Job:
    """Cancel a queued job and a running one, requeue and delete from the DLQ, purge a queue,
    pause, resume, run now and delete a schedule; returns the run-now's job."""
    far = await producer.enqueue_in(300, jobs.add, 0, 0)
    assert await naq.client.cancel_job(far.job_id, nats_url=operator)
    running = await producer.enqueue(jobs.record_then_sleep, runs, "cancelled", 30)
    await async_wait_for(lambda: jobs.runs(runs, "cancelled"), timeout=20, what="the job running")
    assert await naq.client.cancel_job(running.job_id, nats_url=operator)
    with pytest.raises(naq.client.JobCancelledError):
        await running.result(timeout=20)
    [entry] = [e async for e in naq.client.failed_jobs(nats_url=operator)]
    assert await naq.client.requeue_failed_job(entry, nats_url=operator) == failing.job_id
    with pytest.raises(JobExecutionError):
        await failing.result(timeout=20)
    [entry] = [e async for e in naq.client.failed_jobs(nats_url=operator)]
    await naq.client.delete_failed_job(entry, nats_url=operator)
    idle = Queue("idle", settings=role_settings(server, "producer"))
    await idle.enqueue(jobs.add, 1, 1)
    assert await naq.client.purge_queue("idle", nats_url=operator) == 1
    hourly = await producer.schedule(jobs.add, 5, 5, interval=3600)
    assert await naq.client.pause_scheduled_job(hourly.schedule_id, nats_url=operator)
    assert await naq.client.resume_scheduled_job(hourly.schedule_id, nats_url=operator)
    extra = await naq.client.run_scheduled_job_now(hourly.schedule_id, nats_url=operator)
    assert await naq.client.cancel_scheduled_job(hourly.schedule_id, nats_url=operator)
    return extra


async def _as_monitor(monitor: str, job: Job, dead: Job) -> None:
    """Queue stats, workers, schedules, failed jobs, a job's whole story, events, watches."""
    assert "default" in await naq.client.queues(monitor)
    stats = await naq.client.queue_stats("default", monitor)
    assert stats.workers == 1
    [heartbeat] = await naq.client.list_workers(monitor)
    assert list(heartbeat.queues) == ["default"]
    [schedule] = await naq.client.list_scheduled_jobs(nats_url=monitor)
    assert schedule.schedule_id == "hourly"
    [entry] = [e async for e in naq.client.failed_jobs(nats_url=monitor)]
    assert entry.id == dead.job_id
    info = await naq.client.job_info(job.job_id, monitor)
    assert info.job_id == job.job_id
    async with naq.client.watch_workers(monitor) as watch:
        change = await asyncio.wait_for(anext(aiter(watch)), 10)
        assert change.heartbeat.queues
    async with naq.client.watch_schedules(monitor) as schedules:
        change = await asyncio.wait_for(anext(aiter(schedules)), 10)
        assert change.schedule_id == "hourly"
    async with naq.client.events("default", since=0.0, nats_url=monitor) as stream:
        event = await asyncio.wait_for(anext(aiter(stream)), 10)
        assert event.queue == "default"


async def test_the_monitor_app_shows_queues_schedules_and_failed_jobs_under_the_monitor_user(
    server: NatsServer,
    processes: ProcessGroup,
    naq_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closing_naq: None,
) -> None:
    _setup(processes, naq_env, server)
    producer = Queue(settings=role_settings(server, "producer"))
    await producer.enqueue(jobs.add, 1, 2)  # no worker: it stays queued
    await producer.schedule(jobs.add, 1, 1, interval=3600, schedule_id="hourly")
    app = MonitorApp(NatsDataSource(_as(monkeypatch, server, "monitor")))
    async with app.run_test(size=(160, 45)) as pilot:
        await async_wait_for(lambda: _has_row(app, QueuesTable, "default"), timeout=15, what="the queue")
        await pilot.press("s")
        await async_wait_for(lambda: _has_row(app, SchedulesTable, "hourly"), timeout=15, what="the schedule")
        await pilot.press("f")
        await async_wait_for(lambda: app.screen.query(FailedTable), timeout=15, what="the failed screen")
        await async_wait_for(lambda: "| connected |" in _status(app), timeout=15, what="connected")
        assert "refused" not in _status(app).lower()
    unexpected = [line for line in violations(server) if not _a_monitor_deleting_its_read(line)]
    assert unexpected == [], "the monitor did something its user may not"


def _has_row(app: MonitorApp, table: type[Any], key: str) -> bool:
    widget = app.screen.query_one(table)
    return key in [row.key.value for row in widget.ordered_rows]


def _status(app: MonitorApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def _refusal(subject: str) -> str:
    return re.escape(f'{REFUSED} for publish to "{subject}"')


def _a_monitor_deleting_its_read(line: str) -> bool:
    return "user:naq-monitor" in line and '"$JS.API.CONSUMER.DELETE.' in line and ".naq-read-" in line


async def test_a_producer_can_neither_consume_jobs_nor_write_results(
    server: NatsServer,
    processes: ProcessGroup,
    naq_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closing_naq: None,
) -> None:
    _setup(processes, naq_env, server)
    await Queue(settings=role_settings(server, "producer")).enqueue(jobs.add, 1, 2)
    raw = await RawClient().connect(server, "producer")
    try:
        js = raw.nc.jetstream()
        create = f"$JS.API.CONSUMER.CREATE.{names.JOBS_STREAM}.thief"
        body = json.dumps({"stream_name": names.JOBS_STREAM, "config": {"durable_name": "thief"}}).encode()
        assert REFUSED in (await raw.refused(create, raw.nc.request(create, body, timeout=5))).lower()
        fetch = f"$JS.API.CONSUMER.MSG.NEXT.{names.JOBS_STREAM}.naq-worker-default"
        assert REFUSED in (await raw.refused(fetch, raw.nc.request(fetch, b'{"batch": 1}', timeout=5))).lower()
        put = f"$KV.{names.RESULTS_BUCKET}.forged"
        assert REFUSED in (await raw.refused(put, js.publish(put, b"forged"))).lower()
        # Nor read another user's replies.
        others = f"{inbox_prefix('operator')}.>"
        assert REFUSED in (await raw.refused(others, raw.nc.subscribe(others))).lower()
    finally:
        await raw.close()
    # The job is still there for a worker.
    stats = await naq.client.queue_stats("default", _as(monkeypatch, server, "monitor"))
    assert stats.pending == 1


async def test_a_monitor_cannot_change_anything(
    server: NatsServer,
    processes: ProcessGroup,
    naq_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    closing_naq: None,
) -> None:
    _setup(processes, naq_env, server)
    producer = Queue(settings=role_settings(server, "producer"))
    queued = await producer.enqueue(jobs.add, 1, 2)
    monitor = _as(monkeypatch, server, "monitor")
    # Each refused at once, naming what was refused.
    with pytest.raises(NaqError, match=_refusal("naq.queue.default")):
        await naq.client.enqueue(jobs.add, 1, 2, nats_url=monitor)
    with pytest.raises(NaqError, match=_refusal(f"$JS.API.STREAM.PURGE.{names.JOBS_STREAM}")):
        await naq.client.purge_queue("default", nats_url=monitor)
    with pytest.raises(NaqError, match=_refusal(f"$KV.{names.JOB_STATUS_BUCKET}.{queued.job_id}")):
        await naq.client.cancel_job(queued.job_id, nats_url=monitor)
    with pytest.raises(NaqError, match=_refusal(f"$KV.{names.SCHEDULES_BUCKET}.forged")):
        await naq.client.schedule(jobs.add, 1, 1, interval=60, schedule_id="forged", nats_url=monitor)
    raw = await RawClient().connect(server, "monitor")
    try:
        js = raw.nc.jetstream()
        for bucket in (
            names.RESULTS_BUCKET,
            names.JOB_STATUS_BUCKET,
            names.WAITING_BUCKET,
            names.SCHEDULES_BUCKET,
            names.SCHEDULER_LOCK_BUCKET,
            names.WORKERS_BUCKET,
        ):
            put = f"$KV.{bucket}.forged"
            assert REFUSED in (await raw.refused(put, js.publish(put, b"forged"))).lower()
        for subject in ("naq.failed.default.forged", "naq.control.cancel.forged", "naq.events.default.completed"):
            assert REFUSED in (await raw.refused(subject, raw.nc.publish(subject, b"forged"))).lower()
        delete = f"$JS.API.STREAM.DELETE.{names.JOBS_STREAM}"
        assert REFUSED in (await raw.refused(delete, raw.nc.request(delete, b"", timeout=5))).lower()
    finally:
        await raw.close()
    stats = await naq.client.queue_stats("default", monitor)
    assert stats.pending == 1, "the monitor changed the queue"
