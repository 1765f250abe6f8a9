"""Checks of a typer app's ``--help`` pages as a user at an 80-column terminal reads them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

__all__ = ["COLUMNS", "command_paths", "help_problems", "page_problems"]

COLUMNS = 80
"""The terminal width the pages are rendered at."""


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command`` (a click command), with the words that invoke it."""
    yield path, command
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from command_paths(sub, (*path, name))


def _words(text: str) -> str:
    return " ".join(text.split())


def page_problems(where: str, page: str, params: Any) -> list[str]:
    """What is wrong with one help ``page`` of a command with ``params`` (click parameters).

    Each option's help text must appear whole (wrapped at spaces only, never cut or folded mid-word),
    no line may be wider than the terminal, and on/off flags must not show a ``<bool>`` value.
    """
    problems = []
    if "<bool>" in page:
        problems.append(f"{where}: a flag shows <bool>")
    if "…" in page:
        problems.append(f"{where}: text cut with an ellipsis")
    problems += [f"{where}: line wider than {COLUMNS}: {line!r}" for line in page.splitlines() if len(line) > COLUMNS]
    for param in params:
        text = getattr(param, "help", None)
        if text and _words(text) not in _words(page):
            problems.append(f"{where}: the help of {param.name} is not shown whole: {text!r}")
    return problems


def help_problems(app: typer.Typer) -> list[str]:
    """:func:`page_problems` of ``app``'s help and every command's, rendered at 80 columns (empty: none)."""
    problems = []
    runner = CliRunner()
    for path, command in command_paths(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(COLUMNS), "TERMINAL_WIDTH": str(COLUMNS)})
        where = " ".join(path) or "(root)"
        if result.exit_code != 0:
            problems.append(f"{where}: --help exited {result.exit_code}: {result.output}")
            continue
        problems += page_problems(where, result.output, command.params)
    return problems
