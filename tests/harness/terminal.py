"""A console script in a pseudo-terminal, its screen read back through the pyte terminal emulator.

Needs pyte (a test tool of every environment). The child runs in a session of its own, so
:meth:`Terminal.close` stops it and anything it started with one ``killpg``. Reading is done by
the caller, in :meth:`Terminal.pump` (or the waits built on it), never by a background thread:
the screen is only ever touched by the thread that asks about it, and a benchmark sees each
change on the first read that brings it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

import pyte

__all__ = ["Terminal"]

_READ_SIZE = 65536


class Terminal:
    """``command`` running on a ``columns`` x ``lines`` pseudo-terminal (``TERM=xterm-256color``).

    As a context manager it starts the process and stops it (and its process group) on exit.
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str], *, columns: int = 120, lines: int = 40) -> None:
        self.command = list(command)
        self.env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}
        self.columns = columns
        self.lines = lines
        self.screen = pyte.Screen(columns, lines)
        """The emulated screen: what the process has drawn so far."""
        self._stream = pyte.ByteStream(self.screen)
        self.process: subprocess.Popen[bytes] | None = None
        self._master = -1
        self.received = 0
        """Bytes read from the process so far."""
        self.eof = False
        """True once the process closed its side of the terminal (it exited)."""
        self.feed_seconds = 0.0
        """Seconds spent in the emulator so far (a benchmark's share of a measured latency)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Open the pseudo-terminal, size it, and start the process on it."""
        master, slave = os.openpty()
        try:
            # The size is set before the start, so the app's first layout is the final one.
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.lines, self.columns, 0, 0))
            self.process = subprocess.Popen(
                self.command, stdin=slave, stdout=slave, stderr=slave, env=self.env, start_new_session=True
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master

    @property
    def pid(self) -> int:
        """The process id of the command."""
        assert self.process is not None, "not started"
        return self.process.pid

    def send(self, data: bytes) -> None:
        """Type ``data`` (e.g. ``b"s"``, ``b"\\x1b"`` for escape) into the terminal."""
        os.write(self._master, data)

    def pump(self, timeout: float) -> int:
        """Wait at most ``timeout`` s for output and feed all that has arrived to the screen;
        returns the bytes read (0: nothing came, or the process has closed the terminal)."""
        if self.eof:
            return 0
        ready, _, _ = select.select([self._master], [], [], max(0.0, timeout))
        if not ready:
            return 0
        total = 0
        while True:  # ends when the terminal has nothing more to give right now, or is closed
            try:
                chunk = os.read(self._master, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.EIO:  # EIO: the last process on the terminal has gone
                    raise
                chunk = b""
            if not chunk:
                self.eof = True
                break
            fed = time.perf_counter()
            self._stream.feed(chunk)
            self.feed_seconds += time.perf_counter() - fed
            total += len(chunk)
        self.received += total
        return total

    def drain(self, seconds: float) -> None:
        """Keep reading for ``seconds`` (the process must never block on a full terminal)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.eof:
            self.pump(min(left, 0.1))

    def text(self) -> str:
        """The screen as text, one line per row."""
        return "\n".join(self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str = "screen condition") -> float:
        """Read until ``predicate(self.text())`` holds; returns the seconds it took. ``TimeoutError``
        with the screen after ``timeout``, or at once if the process closed the terminal first."""
        started = time.monotonic()
        deadline = started + timeout
        while True:  # bounded by the deadline
            if predicate(self.text()):
                return time.monotonic() - started
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                state = "the process closed the terminal" if self.eof else f"not within {timeout} s"
                raise TimeoutError(f"{what}: {state}; the screen:\n{self.text()}")
            self.pump(min(left, 0.05))

    def wait_exit(self, timeout: float) -> int:
        """Read until the process exits (it must not block on output meanwhile); its exit code.
        ``subprocess.TimeoutExpired`` if it is still running after ``timeout``."""
        assert self.process is not None, "not started"
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:  # bounded by the deadline
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.command, timeout)
            self.pump(min(left, 0.05))
            if self.eof:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(max(0.0, min(left, 0.05)))
        return self.process.returncode

    def close(self, timeout: float = 5.0) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after ``timeout``) and close the terminal."""
        # Only while the process has not been reaped: after that its pid may be another's.
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
