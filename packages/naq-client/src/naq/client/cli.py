"""The ``naq`` command. Other naq packages add subcommands through the ``naq.cli`` entry points.

An entry point in that group names either a ``typer.Typer`` (added as a command group) or a plain
function (added as one command), under the entry point's name.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Annotated

import typer

from naq.client._version import __version__

__all__ = ["ENTRY_POINT_GROUP", "app", "main"]

ENTRY_POINT_GROUP = "naq.cli"
"""Entry-point group through which installed naq packages add ``naq`` subcommands."""

app = typer.Typer(name="naq", help="naq: a Python job queue on NATS JetStream.", no_args_is_help=True)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"naq {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
) -> None:
    """naq: a Python job queue on NATS JetStream."""


def _add_plugins(target: typer.Typer) -> None:
    """Add every installed ``naq.cli`` subcommand; a broken one is reported, never fatal."""
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            command = entry_point.load()
        except Exception as exc:  # any import error of a third-party plugin must not break `naq`
            print(f"naq: skipping command {entry_point.name!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if isinstance(command, typer.Typer):
            target.add_typer(command, name=entry_point.name)
        else:
            target.command(entry_point.name)(command)


def main() -> None:
    """Entry point of the ``naq`` console script."""
    _add_plugins(app)
    app()
