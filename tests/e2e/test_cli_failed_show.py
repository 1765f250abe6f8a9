"""``naq failed show``: a failed job for people by default, one JSON document with ``--json``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger
from typer.testing import CliRunner, Result

from harness.worker_runner import WorkerRunner
from naq.client import JobExecutionError, Queue, Settings, cli


@pytest.fixture(autouse=True)
def quiet_logging() -> Iterator[None]:
    """The command points loguru at the runner's stderr; put naq's logging back as a library's."""
    yield
    logger.remove()
    logger.add(sys.stderr)
    logger.disable("naq")


async def naq(settings: Settings, *args: str) -> Result:
    """Run ``naq ARGS --nats-url URL`` in a worker thread (the command runs its own event loop)."""
    command = [*args, "--nats-url", ",".join(settings.nats_url)]
    return await asyncio.to_thread(CliRunner().invoke, cli.app, command)


async def test_failed_show_is_readable_by_default_and_pure_json_with_json(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path
) -> None:
    async with run_worker():
        job = await queue.enqueue("harness.jobs:always_fail", str(tmp_path), "doomed")
        with pytest.raises(JobExecutionError):
            await job.result(timeout=20)

    shown = await naq(test_settings, "failed", "show", job.job_id)
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    lines = text.splitlines()
    assert lines[0].split() == ["id:", job.job_id]
    assert any(line.split()[:2] == ["function:", "harness.jobs:always_fail"] for line in lines)
    assert any(line.startswith("failed at:") and line.rstrip().endswith("Z") for line in lines)
    [error_line] = [line for line in lines if line.startswith("error:")]
    assert "PlannedError: planned failure of doomed" in error_line
    assert text.count("Traceback (most recent call last)") == 1, "the traceback is shown once"
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)

    as_json = await naq(test_settings, "failed", "show", job.job_id, "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)  # the whole output is one JSON document
    assert document["id"] == job.job_id
    assert document["function"] == "harness.jobs:always_fail"
    assert "Traceback (most recent call last)" in document["error"]["traceback"]
