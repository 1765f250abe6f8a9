"""Running a ``--check`` health check (``naq-worker --check``, ``naq-scheduler --check``) to its end."""

from __future__ import annotations

from collections.abc import Mapping

from harness.commands import Ran, run_script

__all__ = ["Checked", "run_check"]

Checked = Ran
"""A finished check: exit code, stdout and stderr."""


async def run_check(script: str, *args: str, env: Mapping[str, str], timeout: float = 30.0) -> Ran:
    """Run ``script --check ARGS...`` without blocking the event loop; fail after ``timeout``."""
    return await run_script(script, "--check", *args, env=env, timeout=timeout)
