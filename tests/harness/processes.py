"""Console scripts (``naq``, ``naq-worker``, ...) as real subprocesses, always stopped afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sysconfig
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ProcessGroup", "console_script"]


def console_script(name: str) -> str:
    """Path of console script ``name`` in this interpreter's environment."""
    found = shutil.which(name, path=sysconfig.get_path("scripts"))
    if found is None:
        raise FileNotFoundError(f"console script {name!r} is not installed in this environment")
    return found


class ProcessGroup:
    """Starts subprocesses with their output in log files, and stops every one of them on close."""

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.env = dict(os.environ if env is None else env)
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def spawn(
        self, script: str, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start console script ``script`` with ``args`` (in ``cwd``); its output goes to a log file."""
        log_path = self.log_dir / f"{script}-{len(self.processes)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [console_script(script), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, **(env or {})},
                cwd=cwd,
            )
        self.processes.append((process, log_path))
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        """Everything ``process`` printed so far."""
        for candidate, path in self.processes:
            if candidate is process:
                return path.read_text(errors="replace")
        raise KeyError("not a process of this group")

    @staticmethod
    def stop(process: subprocess.Popen[bytes], timeout: float = 10.0, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and wait; kill if it has not exited within ``timeout``. Returns the exit code."""
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        return process.returncode

    def close(self) -> None:
        """Stop every process still running."""
        for process, _ in self.processes:
            self.stop(process)
