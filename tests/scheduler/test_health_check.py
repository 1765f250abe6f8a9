"""``naq-scheduler --check``: the health check a scheduler's container runs, against real processes.

A real ``naq-scheduler`` subprocess on the session server refreshes its alive file every tick; the
check runs as the container would run it, a second process of the same host, with the same
``--alive-file``. The stale limit is 10 s (three ticks, at least 10 s); deadlines about 2x that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.health import run_check
from harness.processes import ProcessGroup
from harness.waiting import async_wait_for, wait_for
from naq.protocol import Settings
from naq.scheduler._health import AliveFile, check_alive_file, stale_after

POLL = "0.1"
STALE = 10.0
"""What :func:`stale_after` gives for the test poll of 0.1 s."""


def spawn(processes: ProcessGroup, env: dict[str, str], alive: Path) -> subprocess.Popen[bytes]:
    """Start a scheduler refreshing ``alive``; return once it wrote the file."""
    scheduler = processes.spawn("naq-scheduler", "--poll-interval", POLL, "--alive-file", str(alive), env=env)

    def written() -> bool:
        assert scheduler.poll() is None, f"scheduler exited:\n{processes.output(scheduler)[-4000:]}"
        return alive.exists()

    wait_for(written, timeout=30, interval=0.05, what="the scheduler wrote its alive file")
    return scheduler


async def test_check_passes_while_the_scheduler_runs_and_fails_once_it_stopped(
    processes: ProcessGroup, naq_env: dict[str, str], tmp_path: Path
) -> None:
    alive = tmp_path / "sched.alive"
    scheduler = spawn(processes, naq_env, alive)
    checked = await run_check("naq-scheduler", "--alive-file", str(alive), env=naq_env)
    assert checked.code == 0, checked
    assert f"pid {scheduler.pid}" in checked.out
    # The file is refreshed while it runs, not only written at start.
    first = alive.stat().st_mtime
    wait_for(lambda: alive.stat().st_mtime > first, timeout=5, interval=0.1, what="the alive file refreshed")
    # The variable names the file just as the option does.
    by_env = await run_check("naq-scheduler", env={**naq_env, "NAQ_SCHEDULER_ALIVE_FILE": str(alive)})
    assert by_env.code == 0, by_env

    assert ProcessGroup.stop(scheduler) == 0, processes.output(scheduler)[-4000:]
    assert not alive.exists()  # a clean stop removes it
    stopped = await run_check("naq-scheduler", "--alive-file", str(alive), env=naq_env)
    assert stopped.code == 1, stopped
    assert stopped.err.count("\n") == 1, stopped
    assert "no alive file" in stopped.err, stopped


async def test_check_fails_at_once_for_a_killed_scheduler(
    processes: ProcessGroup, naq_env: dict[str, str], tmp_path: Path
) -> None:
    alive = tmp_path / "sched.alive"
    scheduler = spawn(processes, naq_env, alive)
    ProcessGroup.stop(scheduler, sig=signal.SIGKILL)
    assert alive.exists()  # left behind, still fresh
    checked = await run_check("naq-scheduler", "--alive-file", str(alive), env=naq_env)
    assert checked.code == 1, checked
    assert f"(pid {scheduler.pid}) is gone" in checked.err, checked


async def test_check_fails_while_the_scheduler_is_frozen_and_passes_once_it_resumes(
    processes: ProcessGroup, naq_env: dict[str, str], tmp_path: Path
) -> None:
    alive = tmp_path / "sched.alive"
    scheduler = spawn(processes, naq_env, alive)
    args = ("--alive-file", str(alive), "--poll-interval", POLL)
    scheduler.send_signal(signal.SIGSTOP)  # the process exists but never ticks
    try:
        frozen_at = time.monotonic()

        async def unhealthy() -> bool:
            return (await run_check("naq-scheduler", *args, env=naq_env)).code == 1

        await async_wait_for(unhealthy, timeout=2 * STALE, interval=0.5, what="check fails for a frozen scheduler")
        assert time.monotonic() - frozen_at >= STALE - 1  # not before the file went stale
        checked = await run_check("naq-scheduler", *args, env=naq_env)
        assert "stuck" in checked.err, checked
    finally:
        scheduler.send_signal(signal.SIGCONT)

    async def healthy() -> bool:
        return (await run_check("naq-scheduler", *args, env=naq_env)).code == 0

    await async_wait_for(healthy, timeout=10, interval=0.2, what="check passes once the scheduler resumes")


# --- the alive file on its own ---------------------------------------------------------------------


def test_stale_limit_is_three_ticks_and_at_least_ten_seconds() -> None:
    assert stale_after(Settings.from_env({}, scheduler_poll_interval=0.1)) == STALE
    assert stale_after(Settings.from_env({}, scheduler_poll_interval=30.0)) == 90.0


def test_a_file_left_by_a_process_that_is_gone_fails(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    alive = tmp_path / "a.alive"
    alive.write_text(ended.stdout.decode(), encoding="ascii")
    healthy, reason = check_alive_file(alive, STALE)
    assert not healthy
    assert "is gone" in reason


def test_an_old_file_of_a_live_process_fails_and_a_touch_makes_it_pass(tmp_path: Path) -> None:
    alive = AliveFile(tmp_path / "deep" / "b.alive")
    alive.start()
    assert check_alive_file(alive.path, STALE) == (True, f"scheduler pid {os.getpid()} ticked 0.0 s ago")
    old = time.time() - STALE - 5
    os.utime(alive.path, (old, old))
    healthy, reason = check_alive_file(alive.path, STALE)
    assert not healthy
    assert "stuck" in reason
    AliveFile(alive.path).touch()  # a first touch: no gap to wait for
    assert check_alive_file(alive.path, STALE)[0]


def test_touch_refreshes_at_most_once_a_second(tmp_path: Path) -> None:
    alive = AliveFile(tmp_path / "c.alive")
    alive.start()
    old = time.time() - 100
    os.utime(alive.path, (old, old))
    alive.touch()  # within the gap of start(): no system call
    assert alive.path.stat().st_mtime == old


def test_a_file_holding_no_pid_fails(tmp_path: Path) -> None:
    alive = tmp_path / "d.alive"
    alive.write_text("not a pid\n", encoding="ascii")
    healthy, reason = check_alive_file(alive, STALE)
    assert not healthy
    assert "holds no pid" in reason


def test_remove_leaves_another_process_file(tmp_path: Path) -> None:
    path = tmp_path / "e.alive"
    path.write_text(f"{os.getppid()}\n", encoding="ascii")
    AliveFile(path).remove()
    assert path.exists()
    mine = AliveFile(path)
    mine.start()
    mine.remove()
    assert not path.exists()
