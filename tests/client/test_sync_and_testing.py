"""Sync twins reuse one loop and connection; test mode runs jobs in-process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from typing import Any

import pytest

from harness.jobs import PlannedError
from naq.client import (
    JobExecutionError,
    JobNotFoundError,
    Queue,
    SerializationError,
    _connection,
    _sync,
    enqueue,
    enqueue_sync,
    fetch_job_result,
    purge_queue_sync,
)
from naq.client.testing import inline_jobs
from naq.protocol import Settings


async def test_a_thousand_sync_calls_share_one_loop_and_connection(test_settings: Settings) -> None:
    url = test_settings.nats_url

    def produce() -> set[int]:
        connections = set()
        for i in range(1000):
            enqueue_sync("harness.jobs:add", i, 1, nats_url=url)
            loop = _sync._background.loop()
            # Only this server's: an earlier test in this process may have left its own there.
            connections.update(id(c) for c in _connection._by_loop[loop].values() if c.settings.nats_url == url)
        return connections

    # From a thread while this test's own event loop runs, as from a web app's thread pool.
    connections = await asyncio.to_thread(produce)
    assert len(connections) == 1
    assert await asyncio.to_thread(purge_queue_sync, None, url) == 1000


def test_a_script_using_the_sync_api_exits_cleanly_and_loses_nothing(nats_url: str) -> None:
    script = (
        "from naq.client import enqueue_sync\n"
        f"for i in range(50): enqueue_sync('harness.jobs:add', i, 1, nats_url={nats_url!r})\n"
        "print('done')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert purge_queue_sync(None, nats_url) == 50


def test_sync_twins_refuse_to_deadlock_on_their_own_loop(nats_url: str) -> None:
    loop = _sync._background.loop()
    failure: list[BaseException] = []
    done = threading.Event()

    def inside() -> None:
        try:
            enqueue_sync("harness.jobs:add", 1, 1, nats_url=nats_url)
        except RuntimeError as exc:
            failure.append(exc)
        done.set()

    loop.call_soon_threadsafe(inside)
    assert done.wait(10)
    assert "sync loop" in str(failure[0])


def double(x: int) -> int:
    """A job for the inline runner."""
    return 2 * x


async def test_inline_jobs_run_in_process_with_the_same_checks() -> None:
    with inline_jobs() as runner:
        job = await enqueue(double, 21)
        assert await job.result() == 42
        assert str(await job.status()) == "completed"
        assert await fetch_job_result(job.job_id) == 42
        with pytest.raises(SerializationError, match="argument 'x'"):
            await enqueue(double, x=object())
        retried = await enqueue("harness.jobs:fail_times", str(_tmp_dir()), "inline", 1, max_retries=1)
        assert await retried.result() == "done"
        failing = await Queue("other").enqueue("harness.jobs:raise_system_exit")
        with pytest.raises(JobExecutionError, match="SystemExit"):
            await failing.result()
        assert runner.ran.count(retried.job_id) == 2
    with inline_jobs(raise_errors=True), pytest.raises(PlannedError):
        await enqueue("harness.jobs:always_fail", str(_tmp_dir()), "raise")


async def test_inline_results_of_unknown_jobs() -> None:
    with inline_jobs(), pytest.raises(JobNotFoundError):
        await fetch_job_result("not-run-here")


def _tmp_dir() -> Any:
    import tempfile

    return tempfile.mkdtemp()
