"""The ``naq`` command: version, and subcommands contributed by other installed packages."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
import typer
from typer.testing import CliRunner

from harness.processes import ProcessGroup
from naq.client import __version__, cli

plugin_app = typer.Typer(help="A command group contributed by another package.")


@plugin_app.command()
def hello() -> None:
    """Say hello (a command of the contributed group)."""
    typer.echo("hello from a plugin")


def shout() -> None:
    """A single contributed command."""
    typer.echo("SHOUT")


def test_version_in_process() -> None:
    result = CliRunner().invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"naq {__version__}"


def test_version_as_a_console_script(processes: ProcessGroup) -> None:
    process = processes.spawn("naq", "--version")
    assert process.wait(30) == 0
    assert processes.output(process).strip() == f"naq {__version__}"


def test_installed_packages_add_subcommands_and_broken_ones_are_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entry_points = [
        EntryPoint("greet", f"{__name__}:plugin_app", cli.ENTRY_POINT_GROUP),
        EntryPoint("shout", f"{__name__}:shout", cli.ENTRY_POINT_GROUP),
        EntryPoint("broken", "naq_no_such_module:app", cli.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(cli, "entry_points", lambda group: [e for e in entry_points if e.group == group])
    app = typer.Typer(name="naq")
    app.callback()(lambda: None)
    cli.add_plugins(app)
    assert "skipping command 'broken'" in capsys.readouterr().err
    runner = CliRunner()
    assert runner.invoke(app, ["greet", "hello"]).output.strip() == "hello from a plugin"
    assert runner.invoke(app, ["shout"]).output.strip() == "SHOUT"
