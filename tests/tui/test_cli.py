"""``naq-tui --help`` and ``naq tui --help``: the monitor's command, on its own and under ``naq``."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from harness.processes import ProcessGroup
from naq.client import cli as naq_cli
from naq.tui import cli as tui_cli


def test_naq_tui_help_lists_its_options() -> None:
    ran = CliRunner().invoke(tui_cli.app, ["--help"])
    assert ran.exit_code == 0, ran.output
    assert "--nats-url" in ran.output
    assert "--read-only" in ran.output


def test_naq_tui_is_a_command_of_naq() -> None:
    # A fresh root, as `naq` builds it: the installed `naq.cli` entry points added to it.
    root = typer.Typer(name="naq")
    root.callback()(lambda: None)
    naq_cli.add_plugins(root)
    ran = CliRunner().invoke(root, ["tui", "--help"], prog_name="naq")
    assert ran.exit_code == 0, ran.output
    assert "Usage: naq tui" in ran.output
    assert "--read-only" in ran.output


def test_the_installed_naq_command_has_tui(processes: ProcessGroup) -> None:
    process = processes.spawn("naq", "tui", "--help")
    assert process.wait(30) == 0
    assert "--nats-url" in processes.output(process)


def test_a_bad_setting_is_a_message_and_exit_code_4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CONNECT_TIMEOUT", "soon")
    ran = CliRunner().invoke(tui_cli.app, [])
    assert ran.exit_code == 4, ran.output
    assert "NAQ_NATS_CONNECT_TIMEOUT" in ran.output
    assert "Traceback" not in ran.output
