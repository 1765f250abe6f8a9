"""The naq-tui README offers only what exists: while the package ships no ``naq-tui`` command, it
says so, and the commands it points to instead are real."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from typer.testing import CliRunner

from naq.client import cli

README = Path(__file__).parents[2] / "packages" / "naq-tui" / "README.md"


def _console_lines() -> list[list[str]]:
    return [line[2:].split() for line in README.read_text().splitlines() if line.startswith("$ ")]


def test_the_readme_does_not_offer_a_monitor_that_is_not_there() -> None:
    text = README.read_text()
    if shutil.which("naq-tui", path=sysconfig.get_path("scripts")) is None:
        assert "not written yet" in text.lower()
        assert not any(words[:3] == ["pip", "install", "naq-tui"] for words in _console_lines())
        assert not any(words[0] == "naq-tui" for words in _console_lines())


def test_the_commands_the_readme_points_to_exist() -> None:
    lines = _console_lines()
    assert lines
    for words in lines:
        assert words[0] == "naq", words
        ran = CliRunner().invoke(cli.app, [words[1], "--help"])
        assert ran.exit_code == 0, (words, ran.output)
