"""``naq demo`` as a user runs it: a real process that starts a server, a worker and a scheduler.

It must end every demo job as planned and exit 0, and an interrupt (a terminal's Ctrl-C to the
whole process group, or SIGINT/SIGTERM to the demo's pid alone) must leave no process and no
temporary directory behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.waiting import wait_for

_DEMO = [sys.executable, "-m", "naq.client", "demo"]
_JOBS = (
    "add(2, 3)", "word_count()", "slow_square(7)", "flaky(2)", "always_fails()", "step(extract)", "step(transform)",
    "step(load)", "add(20, 22)", "add(0, 0)", "every 1s 1/3", "every 1s 2/3", "every 1s 3/3",
)  # fmt: skip


def _descendants(pid: int) -> dict[int, str]:
    """Live descendants of ``pid`` (pid -> command line), read from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    for _ in range(len(parents) + 1):
        if not frontier:
            break
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found[child] = commands[child]
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    return {**env, "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}


def test_the_demo_ends_every_job_as_planned_and_exits_0(tmp_path: Path) -> None:
    began = time.monotonic()
    done = subprocess.run(_DEMO, env=_demo_env(), capture_output=True, text=True, timeout=90, check=False)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stdout + done.stderr
    assert took < 60
    outcome = done.stdout.split("outcome of every demo job", 1)[1]
    for job in _JOBS:
        assert job in outcome, f"{job} missing from the outcome table:\n{outcome}"
    assert re.search(r"flaky\(2\)\s+completed\s+succeeded on attempt 3\s+3", outcome), outcome
    assert re.search(r"always_fails\(\)\s+failed\s+ValueError: bad input\s+2", outcome), outcome
    assert re.search(r"add\(20, 22\)\s+completed\s+42", outcome), outcome
    assert re.search(r"add\(0, 0\)\s+cancelled", outcome), outcome
    assert "dead-letter queue: 1 job(s)" in outcome
    assert "All 13 jobs ended as expected" in outcome
    assert "Traceback" not in done.stdout + done.stderr


def _started_demo(keep: bool) -> tuple[subprocess.Popen[str], dict[int, str]]:
    """A demo in a process group of its own (as a terminal runs it), once its children are up."""
    demo = subprocess.Popen(
        [*_DEMO, "--keep"] if keep else _DEMO,
        env=_demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )

    def children_up() -> dict[int, str] | None:
        found = _descendants(demo.pid)
        names = " ".join(found.values())
        ready = "nats-server" in names and "naq.worker" in names and "naq.scheduler" in names
        return found if ready else None

    try:
        return demo, wait_for(children_up, timeout=30, interval=0.1, what="the demo's server, worker and scheduler")
    except BaseException:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(10)
        raise


def _workdir(children: dict[int, str]) -> Path:
    command = next(line for line in children.values() if "nats-server" in line)
    store = Path(command.split("--store_dir", 1)[1].split()[0])
    return store.parents[1]  # <workdir>/server/store


@pytest.mark.parametrize(
    ("keep", "whom", "sig"),
    [
        (True, "group", signal.SIGINT),
        (True, "pid", signal.SIGINT),
        (False, "group", signal.SIGINT),
        (False, "pid", signal.SIGTERM),
    ],
    ids=["keep-ctrl-c-to-group", "keep-sigint-to-demo", "running-ctrl-c-to-group", "running-sigterm-to-demo"],
)
def test_an_interrupt_leaves_no_process_and_no_directory(keep: bool, whom: str, sig: int) -> None:
    began = time.monotonic()
    demo, children = _started_demo(keep)
    workdir = _workdir(children)
    assert workdir.is_dir()
    try:
        if keep:  # the case: interrupted 5 s in, whatever it is doing then
            time.sleep(max(0.0, 5 - (time.monotonic() - began)))
        if whom == "group":
            os.killpg(demo.pid, sig)
        else:
            os.kill(demo.pid, sig)
        output, _ = demo.communicate(timeout=40)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)
    left = {pid: line for pid, line in children.items() if _alive(pid)}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after the demo exited: {left}\n{output}"
    assert not workdir.exists(), output
    assert demo.returncode in (0, 130), output
    assert "Traceback" not in output


def test_a_missing_distribution_is_named_with_its_install_command(tmp_path: Path) -> None:
    from naq.protocol import ConfigurationError
    from naq.worker._demo_processes import DemoProcesses

    processes = DemoProcesses(tmp_path)
    with pytest.raises(ConfigurationError, match=r"naq\.no_such_scheduler .*pip install 'naq-worker\[demo\]'"):
        processes.start("scheduler", "naq.no_such_scheduler")
    assert processes.children == {}
