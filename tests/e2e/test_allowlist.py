"""A worker runs only what it was told to run (issue 13), seen from outside.

Before: ``naq-worker secq`` (no allowed modules) logged a warning and ran any importable function
it was sent: a job ``os.system("touch /tmp/x")`` created the file. Now a worker without allowed
modules refuses to start, ``--allow-any-module`` starts one that still refuses the modules that
run code or commands, and only ``--allow-module os`` by name lets ``os`` run.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import naq.client
from harness.jobs import add
from harness.processes import ProcessGroup
from harness.worker_processes import wait_registered, worker_logs
from harness.worker_runner import WorkerRunner
from naq.client import JobExecutionError, Queue, Settings

EXIT_CONFIG = 4


@pytest.fixture
def open_env(naq_env: dict[str, str]) -> dict[str, str]:
    """The worker subprocesses' environment with no allowed modules (a worker's default)."""
    return {k: v for k, v in naq_env.items() if k != "NAQ_ALLOWED_MODULES"}


@pytest.fixture
async def env_queue(client_env: dict[str, str]) -> AsyncIterator[Queue]:
    """The default queue with the worker subprocesses' settings; its connections close afterwards."""
    yield Queue("default")
    await naq.client.close()


async def _failure(job: naq.client.Job) -> JobExecutionError:
    with pytest.raises(JobExecutionError) as failed:
        await job.result(timeout=20)
    return failed.value


def _denied_calls(marker: Path) -> dict[str, tuple[Any, ...]]:
    # Each would create ``marker`` if it ran.
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "os:system": ("os:system", f"touch {marker}"),
        "subprocess:run": ("subprocess:run", ["touch", str(marker)]),
        "builtins:eval": ("builtins:eval", touch),
        "builtins:exec": ("builtins:exec", touch),
        "importlib:import_module": ("importlib:import_module", "antigravity"),
    }


@pytest.mark.parametrize(
    "name", ["os:system", "subprocess:run", "builtins:eval", "builtins:exec", "importlib:import_module"]
)
async def test_allow_any_module_still_refuses_what_runs_code_and_goes_on(
    run_worker: WorkerRunner, queue: Queue, test_settings: Settings, tmp_path: Path, name: str
) -> None:
    marker = tmp_path / "ran"
    unset = dataclasses.replace(test_settings, allowed_modules=None)
    async with run_worker(settings=unset, allow_any_module=True) as worker:
        job = await queue.enqueue(*_denied_calls(marker)[name])
        error = await _failure(job)
        assert error.error_type == "naq.worker:JobRejectedError"
        module = name.partition(":")[0]
        assert f"function {name} is refused: module {module} is in {module}, which can run code" in error.error_message
        assert "--allow-module" in error.error_message, "the error says how to allow it"
        after = await queue.enqueue(add, 2, 3)
        assert await after.result(timeout=20) == 5, "the worker goes on"
        assert worker.failed == 1
    assert not marker.exists(), "nothing was executed"


def _exit_of(processes: ProcessGroup, process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker started anyway:\n{processes.output(process)[-2000:]}") from None


@pytest.mark.parametrize("command", [("naq-worker",), ("naq", "worker")], ids=["naq-worker", "naq worker"])
def test_a_worker_process_without_allowed_modules_refuses_to_start(
    processes: ProcessGroup, open_env: dict[str, str], command: tuple[str, ...]
) -> None:
    script, *sub = command
    process = processes.spawn(script, *sub, "secq", env=open_env)
    assert _exit_of(processes, process) == EXIT_CONFIG
    output = processes.output(process)
    assert "this worker has no allowed modules" in output
    for way in ("--allow-module", "NAQ_ALLOWED_MODULES", "--allow-any-module", "NAQ_ALLOW_ANY_MODULE"):
        assert way in output
    assert "Traceback" not in output
    assert "serving" not in output


async def test_allow_any_module_process_warns_and_refuses_os_system(
    processes: ProcessGroup, open_env: dict[str, str], env_queue: Queue, tmp_path: Path
) -> None:
    marker = tmp_path / "x"
    worker = processes.spawn("naq-worker", "default", "--name", "anymod", "--allow-any-module", env=open_env)
    await wait_registered(processes, {"anymod": worker})
    job = await env_queue.enqueue("os:system", f"touch {marker}")
    error = await _failure(job)
    assert "module os is in os, which can run code or commands" in error.error_message
    assert await (await env_queue.enqueue("harness.jobs:add", 2, 3)).result(timeout=20) == 5
    assert not marker.exists(), "os.system did not run"
    logs = worker_logs(processes, [worker])
    assert "WARNING" in logs
    assert "allow_any_module is on" in logs


async def test_naming_os_explicitly_allows_it_and_only_it(
    processes: ProcessGroup, open_env: dict[str, str], env_queue: Queue, tmp_path: Path
) -> None:
    marker = tmp_path / "x"
    worker = processes.spawn("naq-worker", "default", "--name", "withos", "--allow-module", "os", env=open_env)
    await wait_registered(processes, {"withos": worker})
    assert await (await env_queue.enqueue("os:system", f"touch {marker}")).result(timeout=20) == 0
    assert marker.exists(), "--allow-module os runs os.system: what the docs warn about"
    refused = await _failure(await env_queue.enqueue("subprocess:run", ["true"]))
    assert "module subprocess is in subprocess" in refused.error_message
    outside = await _failure(await env_queue.enqueue("harness.jobs:add", 2, 3))
    assert "outside this worker's allowed modules (os)" in outside.error_message
