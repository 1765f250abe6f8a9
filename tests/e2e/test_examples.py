"""docs/examples/ run as their READMEs say: a worker (and, for scheduling, a scheduler) started in
the example's folder, then its producer, all as real processes against the fixture server.

Each producer runs as ``python producer.py`` in its own folder, so every example's ``tasks``
module is imported only by its own processes (never into this one's ``sys.modules``). The web
app is imported from its file under a name of its own and driven with FastAPI's TestClient.
Only the services' clocks are shortened here (heartbeats, the scheduler's tick and lock); the
examples themselves run with naq's defaults.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

import naq.client
from harness.processes import ProcessGroup
from harness.schedules import SCHEDULER_POLL, leader
from harness.waiting import async_wait_for, wait_for
from naq.client import JobStatus, Settings

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
_ID = r"[A-Za-z0-9_-]+"


@pytest.fixture
def example_env(nats_url: str) -> dict[str, str]:
    """This process's environment minus any ``NAQ_*``, plus the server URL and shortened service clocks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    settings = Settings.from_env(
        {},
        nats_url=nats_url,
        connect_timeout=2.0,
        worker_heartbeat_interval=0.5,
        worker_ttl=2,
        scheduler_poll_interval=SCHEDULER_POLL,
        scheduler_lock_ttl=2,
        scheduler_lock_renew_interval=0.5,
    )
    env.update(settings.as_env())
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ left in docs/examples
    return env


class ExampleRun:
    """Runs one example's services and producer in its folder; every service is stopped at the end."""

    def __init__(self, name: str, processes: ProcessGroup, env: dict[str, str], nats_url: str) -> None:
        self.folder = EXAMPLES / name
        self.processes = processes
        self.env = env
        self.nats_url = nats_url
        self.services: list[tuple[str, subprocess.Popen[bytes]]] = []

    async def start_worker(self) -> None:
        """``naq-worker default --allow-module tasks``, as the README says; waits until it is registered."""
        process = self._spawn("naq-worker", "default", "--allow-module", "tasks")

        async def registered() -> bool:
            self._check_alive("naq-worker", process)
            return bool(await naq.client.list_workers(nats_url=self.nats_url))

        await async_wait_for(registered, timeout=20, interval=0.1, what="the example's worker registered")

    async def start_scheduler(self, js: Any) -> None:
        """``naq-scheduler``; waits until it leads."""
        process = self._spawn("naq-scheduler")

        async def leads() -> bool:
            self._check_alive("naq-scheduler", process)
            return await leader(js) is not None

        await async_wait_for(leads, timeout=20, interval=0.1, what="the example's scheduler leads")

    async def run_producer(self) -> tuple[list[str], float]:
        """``python producer.py`` to its end: its output lines and how long it took (seconds)."""
        started = time.monotonic()
        ran = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "producer.py"],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        elapsed = time.monotonic() - started
        assert ran.returncode == 0, f"producer.py exited {ran.returncode}:\n{ran.stdout}\n{ran.stderr}\n{self.logs()}"
        assert "Traceback" not in ran.stderr, ran.stderr
        return ran.stdout.splitlines(), elapsed

    def stop(self) -> None:
        """SIGTERM every service, the last started first: each must exit 0."""
        for name, process in reversed(self.services):
            code = self.processes.stop(process, timeout=20)
            assert code == 0, f"{name} exited {code} on SIGTERM:\n{self.processes.output(process)}"

    def logs(self) -> str:
        """The services' output so far, for failure messages."""
        return "\n".join(f"--- {name}:\n{self.processes.output(p)[-4000:]}" for name, p in self.services)

    def _spawn(self, script: str, *args: str) -> subprocess.Popen[bytes]:
        process = self.processes.spawn(script, *args, env=self.env, cwd=self.folder)
        self.services.append((script, process))
        return process

    def _check_alive(self, name: str, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{self.processes.output(process)}")


@pytest.fixture
async def example(processes: ProcessGroup, example_env: dict[str, str], nats_url: str) -> Any:
    """Makes :class:`ExampleRun` s for a test; closes this process's naq connections after it."""

    def make(name: str) -> ExampleRun:
        return ExampleRun(name, processes, example_env, nats_url)

    try:
        yield make
    finally:
        await naq.client.close()


async def test_hello(example: Any, nats_url: str) -> None:
    run = example("hello")
    await run.start_worker()
    lines, _ = await run.run_producer()
    run.stop()

    assert len(lines) == 3, lines
    ids = re.fullmatch(rf"enqueued ({_ID}) and ({_ID})", lines[0])
    assert ids, lines
    assert lines[1:] == ["Hello, naq!", "2 + 3 = 5"]
    # The values came from the worker through the results bucket, under the ids printed.
    assert await naq.client.fetch_job_result(ids.group(1), nats_url=nats_url) == "Hello, naq!"
    assert await naq.client.fetch_job_result(ids.group(2), nats_url=nats_url) == 5


async def test_retries_and_the_dead_letter_queue(example: Any, nats_url: str) -> None:
    run = example("retries")
    await run.start_worker()
    lines, elapsed = await run.run_producer()
    run.stop()

    assert lines[:3] == [
        "EUR rates fetched on attempt 3",
        "sync_inventory failed: builtins:ConnectionError: inventory service unreachable (attempt 3)",
        "charge_card failed: tasks:PaymentDeclined: card 4242 declined for 100",
    ], lines
    printed: dict[str, tuple[str, int]] = {}
    for line in lines[3:]:
        match = re.fullmatch(rf"in the DLQ: (\w+) after (\d+) attempt\(s\), job id ({_ID})", line)
        assert match, lines
        printed[match.group(3)] = (match.group(1), int(match.group(2)))
    assert sorted(printed.values()) == [("charge_card", 1), ("sync_inventory", 3)], lines
    # fetch_rates waited out two backoff delays (1 s, then 2 s) before its third attempt.
    assert elapsed >= 3.0, elapsed

    # The dead-letter queue as this process reads it holds the same two jobs, requeueable.
    entries = {entry.id: entry async for entry in naq.client.failed_jobs(nats_url=nats_url)}
    assert set(entries) == set(printed)
    for job_id, (function, attempts) in printed.items():
        record = entries[job_id].record
        assert record.job.function == f"tasks:{function}"
        assert record.attempts == attempts
        assert record.error.traceback


async def test_dependencies(example: Any, nats_url: str) -> None:
    run = example("dependencies")
    await run.start_worker()
    lines, _ = await run.run_producer()
    run.stop()

    assert len(lines) == 4, lines
    assert lines[0] == "chain: eu total of the cleaned figures = 200"  # 120 + 80; 45 was dropped
    assert lines[1] == "fan-in: total over all regions = 795"  # 245 + 350 + 200
    failed = re.fullmatch(
        rf"failed dependency: naq.client:DependencyFailedError: dependency ({_ID}) failed; job ({_ID}) did not run",
        lines[2],
    )
    assert failed, lines
    assert lines[3] == "status of the total: failed"

    dependency = await naq.client.job_info(failed.group(1), nats_url=nats_url)
    assert dependency.status is JobStatus.FAILED
    assert dependency.error is not None
    assert dependency.error.type == "builtins:LookupError"
    assert dependency.error.message == "no sales data for region 'mars'"
    dependent = await naq.client.job_info(failed.group(2), nats_url=nats_url)
    assert dependent.status is JobStatus.FAILED
    assert dependent.started_at is None  # it never ran


async def test_scheduling(example: Any, nats_url: str, js: Any) -> None:
    run = example("scheduling")
    await run.start_scheduler(js)
    await run.start_worker()
    lines, _ = await run.run_producer()

    # The worker ran the three runs of the interval schedule and the two one-off jobs, no more.
    async def processed_five() -> bool:
        workers = await naq.client.list_workers(nats_url=nats_url)
        return [(worker.processed, worker.failed) for worker in workers] == [(5, 0)]

    await async_wait_for(processed_five, timeout=10, interval=0.1, what="5 jobs processed by the worker")
    run.stop()

    due = re.fullmatch(r"reminder due in 2 s; sales report due at (\d\d:\d\d:\d\d) UTC", lines[0])
    assert due, lines
    # The watch was open before the schedule existed, so it saw each run's change of the record.
    assert lines[1:4] == [f"news feed schedule fired run {n}" for n in (1, 2, 3)], lines
    rest = lines[4:]
    assert rest[0] == "news feed schedule done: 3 runs fired", lines
    assert rest[1] == "nightly-cleanup: paused", lines
    # 02:00 in Paris is 01:00 UTC in winter, 00:00 UTC in summer.
    assert re.fullmatch(r"nightly-cleanup: active, next run at \d{4}-\d\d-\d\d 0[01]:00 UTC", rest[2]), lines
    assert rest[3:5] == ["nightly-cleanup: cancelled", "reminder sent to alice"], lines
    assert len(rest) == 6, lines
    built = re.fullmatch(r"sales report built at (\d\d:\d\d:\d\d) UTC", rest[5])
    assert built, lines
    # It ran at its time, not before (whole seconds; a run just after midnight wraps around).
    late = _clock(built.group(1)) - _clock(due.group(1))
    assert timedelta(0) <= late % timedelta(days=1) < timedelta(seconds=30), lines
    assert await naq.client.list_scheduled_jobs(nats_url=nats_url) == []


def _clock(text: str) -> timedelta:
    moment = datetime.strptime(text, "%H:%M:%S")
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)


def _import_app() -> Iterator[ModuleType]:
    # Under a name of its own, so that no other test's module of the same name gets in its way.
    name = "naq_example_webapp_app"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "webapp" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


@pytest.fixture
def webapp(example_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """docs/examples/webapp/app.py, its naq calls pointed at the fixture server through the environment."""
    for key in [k for k in os.environ if k.startswith("NAQ_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NAQ_NATS_URL", example_env["NAQ_NATS_URL"])
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ left in docs/examples
    yield from _import_app()


async def test_webapp(example: Any, webapp: ModuleType) -> None:
    run = example("webapp")
    await run.start_worker()

    def use_the_app() -> None:
        # TestClient runs the app, lifespan included, on an event loop in a thread of its own.
        with TestClient(webapp.app) as client:
            created = client.post("/jobs", json={"text": "The cat and the hat."})
            assert created.status_code == 202, created.text
            job_id = created.json()["job_id"]
            assert created.json()["status_url"] == f"/jobs/{job_id}"

            def ended(url: str) -> dict[str, Any] | None:
                response = client.get(url)
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["status"] in {"queued", "running", "completed", "failed"}, body
                return body if body["status"] in {"completed", "failed"} else None

            done = wait_for(lambda: ended(f"/jobs/{job_id}"), timeout=15, interval=0.05, what="the job completed")
            assert done == {"job_id": job_id, "status": "completed", "result": {"words": 5, "most_common": "the"}}

            empty = client.post("/jobs", json={"text": " ?! "}).json()["job_id"]
            failed = wait_for(lambda: ended(f"/jobs/{empty}"), timeout=15, interval=0.05, what="the job failed")
            # ignore_on=ValueError: failed at once, not retried.
            assert failed == {"job_id": empty, "status": "failed", "error": "builtins:ValueError: no words to count"}

            assert client.get("/jobs/no-such-job").status_code == 404
            assert client.get("/jobs/not:an:id").status_code == 404
            assert client.post("/jobs", json={}).status_code == 422

    await asyncio.to_thread(use_the_app)
    run.stop()
