"""The naq-tui README offers only what exists: every command it shows is installed and takes the
options it names, and each key it documents is bound on its screen."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from naq.client import cli as naq_cli
from naq.tui import cli as tui_cli
from naq.tui.app import MonitorApp
from naq.tui.dialogs import ConfirmDialog
from naq.tui.screens import FailedJobScreen, FailedScreen, JobScreen, OverviewScreen, SchedulesScreen

README = Path(__file__).parents[2] / "packages" / "naq-tui" / "README.md"


def _console_lines() -> list[list[str]]:
    return [line[2:].split() for line in README.read_text().splitlines() if line.startswith("$ ")]


def _naq_with_plugins() -> typer.Typer:
    root = typer.Typer(name="naq")
    root.callback()(lambda: None)
    for command in naq_cli.app.registered_commands:
        root.registered_commands.append(command)
    for group in naq_cli.app.registered_groups:
        root.registered_groups.append(group)
    naq_cli.add_plugins(root)
    return root


def test_the_commands_the_readme_shows_exist_with_their_options() -> None:
    lines = [words for words in _console_lines() if words[0] != "pip"]
    assert ["naq-tui", "--nats-url", "nats://localhost:4222"] in lines
    runner = CliRunner()
    for words in lines:
        if words[0] == "naq-tui":
            ran = runner.invoke(tui_cli.app, ["--help"])
        else:
            assert words[0] == "naq", words
            ran = runner.invoke(_naq_with_plugins(), [*words[1:2], "--help"])
        assert ran.exit_code == 0, (words, ran.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in ran.output, (words, option)


def test_the_options_and_commands_named_in_prose_exist() -> None:
    text = README.read_text()
    tui_help = CliRunner().invoke(tui_cli.app, ["--help"]).output
    for option in set(re.findall(r"`(--[a-z-]+)`", text)):
        assert option in tui_help, option
    assert "`naq tui`" in text
    assert CliRunner().invoke(_naq_with_plugins(), ["tui", "--help"]).exit_code == 0


def _keys(bindings: object) -> set[str]:
    assert isinstance(bindings, list)
    return {k for b in bindings if not isinstance(b, tuple) for k in b.key.split(",")}


def test_the_documented_keys_are_bound() -> None:
    text = README.read_text()
    for key in ("s", "f", "/", "q", "p", "r", "n", "c", "x", "h", "F", "R", "d", "y", "enter", "escape"):
        assert f"`{key}`" in text, key
    assert {"s", "f", "slash", "q"} <= _keys(MonitorApp.BINDINGS)
    assert {"x", "h", "F"} <= _keys(OverviewScreen.BINDINGS)
    assert {"p", "r", "n", "c", "escape"} <= _keys(SchedulesScreen.BINDINGS)
    # enter on a failed job is the table's own row selection, which the screen answers.
    assert {"r", "R", "d", "F", "escape"} <= _keys(FailedScreen.BINDINGS)
    assert {"c"} <= _keys(JobScreen.BINDINGS)
    assert {"y", "n", "escape"} <= _keys(ConfirmDialog.BINDINGS)
    assert hasattr(FailedScreen, "on_data_table_row_selected")
    assert {"escape"} <= _keys(FailedJobScreen.BINDINGS) & _keys(JobScreen.BINDINGS)
