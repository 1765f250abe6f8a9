"""``naq-scheduler --check``: is this container's scheduler process alive and ticking?

Schedulers have no registry record, and only the leader writes to NATS, so the check asks the
process itself, through a file: the firing loop refreshes an alive file (``NAQ_SCHEDULER_ALIVE_FILE``,
by default ``<tmp>/naq-scheduler.alive`` on the command line) at most once a second, each tick,
leader or standby. The file holds the writer's pid; the check passes while the file is fresher
than :func:`stale_after` and that process exists. A clean stop removes the file; a scheduler
killed or stuck stops refreshing it. Each container has its own ``/tmp``, so replicas never share
one; several schedulers on one host need one path each.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Final

from loguru import logger

from naq.client.runtime import pid_alive
from naq.protocol import Settings

__all__ = ["DEFAULT_ALIVE_FILE", "AliveFile", "check_alive_file", "stale_after"]

DEFAULT_ALIVE_FILE: Final = os.path.join(tempfile.gettempdir(), "naq-scheduler.alive")
"""The command line's alive file when neither ``--alive-file`` nor ``NAQ_SCHEDULER_ALIVE_FILE`` names one."""

_TOUCH_GAP: Final = 1.0
"""Seconds between two refreshes at least: the firing loop may tick far more often."""

_MIN_STALE: Final = 10.0
"""Seconds a file may age at least before the check fails (a busy firing batch can hold a tick)."""


def stale_after(settings: Settings) -> float:
    """Seconds after which a file not refreshed means a dead or stuck scheduler: three ticks, at
    least :data:`_MIN_STALE` (a tick is the poll interval or the refresh gap, whichever is longer)."""
    return max(_MIN_STALE, 3 * max(settings.scheduler_poll_interval, _TOUCH_GAP))


class AliveFile:
    """The file a running scheduler keeps fresh; :meth:`touch` is cheap enough for every tick."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._last = -_TOUCH_GAP
        self._failing = False

    def touch(self) -> None:
        """Refresh the file, at most once per :data:`_TOUCH_GAP` s; a failure is logged once, never raised."""
        now = time.monotonic()
        if now - self._last < _TOUCH_GAP:
            return
        self._last = now
        try:
            try:
                os.utime(self.path)  # one system call on the hot path
            except FileNotFoundError:
                self._write()
        except OSError as exc:  # a health file must never stop the scheduler
            if not self._failing:
                logger.warning("cannot refresh the alive file {}: {}", self.path, exc)
            self._failing = True
        else:
            self._failing = False

    def _write(self) -> None:
        # Written aside and renamed, so a check never reads a half-written pid.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(f"{os.getpid()}\n", encoding="ascii")
        os.replace(partial, self.path)

    def start(self) -> None:
        """Write the file now, with this process's pid (replacing one a dead process left)."""
        try:
            self._write()
        except OSError as exc:
            logger.warning("cannot write the alive file {}: {}", self.path, exc)
            self._failing = True
        self._last = time.monotonic()

    def remove(self) -> None:
        """Remove the file if this process wrote it (a clean stop: the check fails at once)."""
        with contextlib.suppress(OSError, ValueError):
            if int(self.path.read_text(encoding="ascii").strip()) == os.getpid():
                self.path.unlink()


def check_alive_file(path: str | os.PathLike[str], max_age: float) -> tuple[bool, str]:
    """Whether the alive file at ``path`` was refreshed within ``max_age`` s by a process that
    still exists; with the one-line reason."""
    file = Path(path)
    try:
        age = time.time() - file.stat().st_mtime
        text = file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return False, f"no alive file at {file}: no scheduler is running here (or it has not started yet)"
    except OSError as exc:
        return False, f"cannot read the alive file {file}: {exc}"
    try:
        pid = int(text)
    except ValueError:
        return False, f"the alive file {file} holds no pid ({text[:40]!r})"
    if not pid_alive(pid):
        return False, f"the scheduler that wrote {file} (pid {pid}) is gone"
    if age > max_age:
        return False, f"the scheduler (pid {pid}) last ticked {age:.1f} s ago (more than {max_age:.0f} s): stuck"
    return True, f"scheduler pid {pid} ticked {max(age, 0.0):.1f} s ago"
