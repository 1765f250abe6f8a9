"""Running a command to its end from an async test, without blocking the test's event loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from harness.processes import console_script

__all__ = ["Ran", "run_naq", "run_python", "run_script"]


@dataclass(frozen=True)
class Ran:
    """A finished command: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-4000:]}\n--- stderr\n{self.err[-4000:]}"


async def _run(argv: list[str], env: Mapping[str, str], timeout: float) -> Ran:
    process = await asyncio.create_subprocess_exec(
        *argv, env=dict(env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise AssertionError(f"{' '.join(argv)} did not finish within {timeout} s") from None
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def run_python(script: str, env: Mapping[str, str], timeout: float = 60.0) -> Ran:
    """Run ``python -c script`` with this interpreter; fail after ``timeout`` seconds."""
    return await _run([sys.executable, "-c", script], env, timeout)


async def run_script(script: str, *args: str, env: Mapping[str, str], timeout: float = 30.0) -> Ran:
    """Run the console script ``script`` with ``args``; fail after ``timeout`` seconds."""
    return await _run([console_script(script), *args], env, timeout)


async def run_naq(*args: str, env: Mapping[str, str], timeout: float = 30.0) -> Ran:
    """Run the ``naq`` console script with ``args``; fail after ``timeout`` seconds."""
    return await run_script("naq", *args, env=env, timeout=timeout)
