"""What every naq command line shares: common options, logging set-up, and exit codes.

Exit codes: 0 success; 1 the job failed, nothing was found, or naq or JetStream refused the
request (a full queue, a missing stream); 2 bad usage (typer's own); 3 NATS could not be reached
or the connection was lost; 4 a bad setting or argument.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, Final, TypeVar

import typer
from loguru import logger

from naq.client._connection import close_connections
from naq.client._errors import public
from naq.protocol import (
    ConfigurationError,
    JobExecutionError,
    JobNotFoundError,
    NaqConnectionError,
    NaqError,
    SerializationError,
    Settings,
)

__all__ = [
    "EXIT_CONFIG",
    "EXIT_CONNECTION",
    "EXIT_FAILED",
    "LogLevelOption",
    "TYPER_SETTINGS",
    "NatsUrlOption",
    "cli_settings",
    "closing",
    "configure_logging",
    "keep_root_options",
    "non_negative_seconds",
    "run_command",
]

T = TypeVar("T")

EXIT_FAILED: Final = 1
"""The job failed, what was asked for does not exist, or the request was refused."""
EXIT_CONNECTION: Final = 3
"""NATS could not be reached."""
EXIT_CONFIG: Final = 4
"""A setting or argument is invalid."""

NatsUrlOption = Annotated[
    str | None, typer.Option("--nats-url", help="NATS server URL(s), comma-separated (env: NAQ_NATS_URL).")
]
LogLevelOption = Annotated[
    str | None, typer.Option("--log-level", help="TRACE, DEBUG, INFO, WARNING, ERROR (env: NAQ_LOG_LEVEL).")
]

TYPER_SETTINGS: Final[dict[str, Any]] = {"rich_markup_mode": None}
"""Settings of every naq ``typer.Typer``: click's plain help. Typer's Rich help shows every on/off
flag as ``<bool>`` and, at 80 columns, cuts a long word of an option's help with an ellipsis;
click's help names flags bare and wraps help text at word boundaries."""


def keep_root_options(ctx: typer.Context, nats_url: str | None, log_level: str | None) -> None:
    """Make ``--nats-url`` / ``--log-level`` given before the command the defaults of every
    command under ``ctx`` (click's ``default_map``), so a flag after the command still wins."""
    given = {name: value for name, value in (("nats_url", nats_url), ("log_level", log_level)) if value is not None}
    if given:
        ctx.default_map = {**(ctx.default_map or {}), **_defaults(ctx.command, given)}


def _defaults(command: Any, given: dict[str, str]) -> dict[str, Any]:
    # A group maps each subcommand's name to its own defaults; a command takes those it has.
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return {name: value for name, value in given.items() if name in {p.name for p in command.params}}
    return {name: _defaults(sub, given) for name, sub in subcommands.items()}


def non_negative_seconds(value: float | None) -> float | None:
    """Typer callback of a seconds option: refuse a negative, infinite or NaN value (bad usage)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be a finite number of seconds >= 0, got {value}")
    return value


def configure_logging(level: str) -> None:
    """Enable naq's loguru logs on stderr at ``level`` (libraries stay silent until a CLI does this)."""
    logger.remove()
    logger.add(sys.stderr, level=level, format="{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {message}")
    logger.enable("naq")


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(f"naq: {message}", err=True)
    return typer.Exit(code)


def cli_settings(nats_url: str | None, log_level: str | None, **overrides: Any) -> Settings:
    """Settings from the environment with the command's flags over them; logging configured."""
    try:
        settings = Settings.from_env(nats_url=nats_url, log_level=log_level, **overrides)
    except ConfigurationError as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    configure_logging(settings.log_level)
    return settings


async def closing(coroutine: Coroutine[Any, Any, T]) -> T:
    """Await a command's coroutine, then close this loop's naq connections."""
    try:
        return await coroutine
    finally:
        await close_connections()


@public
async def _in_naq_errors(coroutine: Coroutine[Any, Any, T]) -> T:
    return await coroutine


def run_command(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning naq's errors (nats-py's too, as naq's) into a message and
    an exit code."""
    try:
        return asyncio.run(_in_naq_errors(coroutine))
    except NaqConnectionError as exc:
        raise _fail(EXIT_CONNECTION, str(exc)) from None
    except (ConfigurationError, SerializationError, ValueError) as exc:
        raise _fail(EXIT_CONFIG, str(exc)) from None
    except JobNotFoundError as exc:
        raise _fail(EXIT_FAILED, str(exc)) from None
    except JobExecutionError as exc:
        if exc.traceback:
            typer.echo(exc.traceback, err=True)
        raise _fail(EXIT_FAILED, str(exc)) from None
    except TimeoutError as exc:
        raise _fail(EXIT_FAILED, str(exc) or "timed out") from None
    except NaqError as exc:  # refused: a full queue, a JetStream error, a partial enqueue, ...
        raise _fail(EXIT_FAILED, str(exc)) from None
