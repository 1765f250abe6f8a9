"""A worker started next to ``tasks.py`` can import it (issue 9, item 7).

A console script's import path starts with its own ``bin`` folder, not the current directory, so
``naq-worker default --allow-module tasks`` run where ``tasks.py`` lives sent every job to the
dead-letter queue with ``No module named 'tasks'``. The worker now imports from the directory it
is started in unless ``--no-import-cwd``; a module that still cannot be found is reported with the
import path that was searched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import naq.client
from harness.processes import ProcessGroup
from harness.worker_processes import wait_registered, worker_logs
from naq.client import JobExecutionError, Queue

TASKS = "def add(a, b):\n    return a + b\n"

COMMANDS = {"naq-worker": ("naq-worker",), "naq worker": ("naq", "worker")}


@pytest.fixture
async def queue(client_env: dict[str, str]) -> AsyncIterator[Queue]:
    """The default queue with the worker's settings; its connections close afterwards."""
    yield Queue("default")
    await naq.client.close()


@pytest.fixture
def project(tmp_path: Path, naq_env: dict[str, str]) -> Path:
    """A folder holding ``tasks.py``, on no import path (the worker's PYTHONPATH names only tests/)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tasks.py").write_text(TASKS)
    assert str(folder) not in naq_env.get("PYTHONPATH", "").split(os.pathsep)
    return folder


def _start(
    processes: ProcessGroup, env: dict[str, str], command: tuple[str, ...], cwd: Path, *extra: str
) -> subprocess.Popen[bytes]:
    script, *sub = command
    return processes.spawn(
        script, *sub, "default", "--name", "importer", "--allow-module", "tasks", *extra, env=env, cwd=cwd
    )


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
async def test_worker_imports_tasks_from_the_directory_it_starts_in(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], project: Path, command: tuple[str, ...]
) -> None:
    worker = _start(processes, naq_env, command, project)
    await wait_registered(processes, {"importer": worker})

    job = await queue.enqueue("tasks:add", 2, 3)
    try:
        assert await job.result(timeout=20) == 5
    except JobExecutionError as exc:
        raise AssertionError(f"{exc}\n{worker_logs(processes, [worker])}") from None


async def test_no_import_cwd_leaves_the_directory_out_and_names_the_path_searched(
    queue: Queue, processes: ProcessGroup, naq_env: dict[str, str], project: Path
) -> None:
    worker = _start(processes, naq_env, COMMANDS["naq-worker"], project, "--no-import-cwd")
    await wait_registered(processes, {"importer": worker})

    job = await queue.enqueue("tasks:add", 2, 3)
    with pytest.raises(JobExecutionError) as failed:
        await job.result(timeout=20)
    message = str(failed.value)
    assert "No module named 'tasks'" in message
    assert "import path searched:" in message
    tests_dir = naq_env["PYTHONPATH"].split(os.pathsep)[0]
    assert tests_dir in message, "the path searched names the worker's import path"
    assert str(project) not in message, "the current directory was left out"
