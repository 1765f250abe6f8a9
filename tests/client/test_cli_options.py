"""The ``naq`` command's shared options and bad input: ``--log-level``/``--nats-url`` before the
command, ``--wait`` refusals, an empty dead-letter queue.

Commands run in-process through typer's ``CliRunner`` against the test's NATS server, in a worker
thread (each command runs its own event loop). Exit codes (``_cli_common``): 2 bad usage, 4 a bad
setting or argument.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger
from typer.testing import CliRunner, Result

from harness.jetstream_api import stream_info
from naq.client import cli
from naq.protocol import names

EXIT_USAGE = 2
EXIT_CONFIG = 4


@pytest.fixture(autouse=True)
def quiet_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No NAQ_* from the outer environment; afterwards naq's logging is put back as a library's."""
    for key in [k for k in os.environ if k.startswith("NAQ_")]:
        monkeypatch.delenv(key)
    yield
    logger.remove()
    logger.add(sys.stderr)
    logger.disable("naq")


async def naq(*args: str) -> Result:
    """Run ``naq ARGS`` in a worker thread."""
    return await asyncio.to_thread(CliRunner().invoke, cli.app, list(args))


async def test_log_level_and_nats_url_go_before_the_command(nats_url: str) -> None:
    ran = await naq("--log-level", "DEBUG", "--nats-url", nats_url, "list-workers")
    assert ran.exit_code == 0, ran.output
    assert "no live workers" in ran.output
    ran = await naq("--log-level", "DEBUG", "--nats-url", nats_url, "failed", "list")
    assert ran.exit_code == 0, ran.output


async def test_the_log_level_before_the_command_is_used_and_the_one_after_wins(nats_url: str) -> None:
    refused = await naq("--log-level", "LOUD", "list-workers", "--nats-url", nats_url)
    assert refused.exit_code == EXIT_CONFIG, refused.output
    assert "LOUD" in refused.output
    overridden = await naq("--log-level", "LOUD", "list-workers", "--nats-url", nats_url, "--log-level", "INFO")
    assert overridden.exit_code == 0, overridden.output


async def test_the_nats_url_after_the_command_wins() -> None:
    ran = await naq("--nats-url", "nats://127.0.0.1:1", "list-workers", "--nats-url", "not a url")
    assert ran.exit_code == EXIT_CONFIG, ran.output
    assert "not a url" in ran.output


@pytest.mark.parametrize("wait", ["-1", "nan", "inf", "-inf"])
async def test_a_negative_or_non_finite_wait_is_refused(nats_url: str, nc: Any, wait: str) -> None:
    result = await naq("result", "some-job", "--wait", wait, "--nats-url", nats_url)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--wait" in result.output
    assert "finite number of seconds >= 0" in result.output
    enqueued = await naq("enqueue", "harness.jobs:add", "1", "2", "--wait", wait, "--nats-url", nats_url)
    assert enqueued.exit_code == EXIT_USAGE, enqueued.output
    with pytest.raises(RuntimeError, match="stream not found"):  # nothing was enqueued
        await stream_info(nc, names.JOBS_STREAM)


async def test_a_zero_wait_is_accepted(nats_url: str) -> None:
    result = await naq("result", "some-job", "--wait", "0", "--nats-url", nats_url)
    assert result.exit_code == 1, result.output  # no such job: it times out at once
    assert "finite number" not in result.output


async def test_an_empty_dead_letter_queue_says_so(nats_url: str) -> None:
    listed = await naq("failed", "list", "--nats-url", nats_url)
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip() == "no failed jobs"
    as_json = await naq("failed", "list", "--json", "--nats-url", nats_url)
    assert as_json.exit_code == 0, as_json.output
    assert as_json.output.strip() == ""  # JSON lines: no job, no line
