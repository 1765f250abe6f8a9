"""Running a ``--check`` health check (``naq-worker --check``, ``naq-scheduler --check``) to its end."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from harness.processes import console_script

__all__ = ["Checked", "run_check"]


@dataclass(frozen=True)
class Checked:
    """A finished check: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err[-4000:]}"


async def run_check(script: str, *args: str, env: Mapping[str, str], timeout: float = 30.0) -> Checked:
    """Run ``script --check ARGS...`` without blocking the event loop; fail after ``timeout``."""
    process = await asyncio.create_subprocess_exec(
        console_script(script),
        "--check",
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise AssertionError(f"{script} --check {' '.join(args)} did not finish within {timeout} s") from None
    assert process.returncode is not None
    return Checked(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
