"""The worker and scheduler processes ``naq demo`` starts, and their stopping (always bounded)."""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

from naq.protocol import ConfigurationError

__all__ = ["DemoProcesses"]

_STOP_WAIT = 10.0
"""Seconds a child gets to stop after SIGTERM before it is killed (its grace is shorter)."""


class DemoProcesses:
    """Child processes (``python -m <module> ...``) with their output in log files under ``logs``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, module: str, *args: str) -> None:
        """Start ``python -m module args`` as ``name``; ``ConfigurationError`` if it is not installed."""
        if importlib.util.find_spec(module) is None:
            raise ConfigurationError(
                f"naq demo needs {module} (its distribution is not installed): pip install 'naq-worker[demo]'"
            )
        with (self.logs / f"{name}.log").open("ab") as log:
            # Same process group as the demo: a terminal's Ctrl-C reaches the children too, and
            # each stops gracefully on it; stop() covers a signal sent to the demo alone.
            self.children[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                [sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def exited(self) -> dict[str, int]:
        """Children that have exited, with their exit codes."""
        return {name: code for name, child in self.children.items() if (code := child.poll()) is not None}

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The end of a child's output."""
        try:
            return "\n".join((self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    def stop(self) -> None:
        """SIGTERM every child still running, wait for each (bounded), kill what is left."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(_STOP_WAIT)
            except subprocess.TimeoutExpired:
                child.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(_STOP_WAIT)
