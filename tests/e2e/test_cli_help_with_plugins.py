"""``naq worker --help``, ``naq scheduler --help``, ``naq tui --help``: the installed packages' commands
under ``naq``, run as a user runs them (the console script, an 80-column terminal)."""

from __future__ import annotations

import os
import subprocess

import pytest
import typer

from harness.cli_help import COLUMNS, page_problems
from harness.processes import console_script
from naq.scheduler import cli as scheduler_cli
from naq.tui import cli as tui_cli
from naq.worker import cli as worker_cli


@pytest.mark.parametrize(
    ("command", "app"), [("worker", worker_cli.app), ("scheduler", scheduler_cli.app), ("tui", tui_cli.app)]
)
def test_plugin_commands_read_whole_at_80_columns(command: str, app: typer.Typer) -> None:
    env = {**os.environ, "COLUMNS": str(COLUMNS), "TERMINAL_WIDTH": str(COLUMNS)}
    ran = subprocess.run(
        [console_script("naq"), command, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert page_problems(f"naq {command}", ran.stdout, typer.main.get_command(app).params) == []
