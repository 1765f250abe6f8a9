"""``naq-tui`` (also ``naq tui``): the live monitor in the terminal, or with ``--web`` in a
browser; ``naq dashboard`` is the browser one under the name the original naq gave its dashboard.

Exit codes: 0 after quitting; 2 bad usage; 4 bad settings (see naq.client's command line), or the
web mode cannot serve (textual-serve missing, the address taken). An unreachable server is not an
exit: the monitor shows it and keeps retrying.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from naq.client import ConfigurationError, Settings
from naq.client.runtime import EXIT_CONFIG, TYPER_SETTINGS, NatsUrlOption, closing
from naq.tui import web
from naq.tui.app import make_app

__all__ = ["app", "dashboard_command", "main", "tui_command"]

_NO_AUTH = "The page has no authentication: anyone who reaches the address sees the monitor."
_HostOption = Annotated[
    str, typer.Option("--host", help="Address to serve the page on (0.0.0.0: every interface, mind --web's warning).")
]
_PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve the page on.")]
_AllowActionsOption = Annotated[
    bool,
    typer.Option(
        "--allow-actions",
        help="Let the page use the monitor's action keys (pause a schedule, ...); without it the page is "
        "read-only. There is no authentication: anyone who reaches the page may then act.",
    ),
]
_PublicUrlOption = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        help="The page's address as the browser reaches it (default: http://HOST:PORT), e.g. behind a "
        "published port or a proxy.",
    ),
]


def _check_settings(prog: str, nats_url: str | None) -> Settings:
    try:
        # Checked before the screen is taken over (or the page served), so a bad setting is a
        # plain message. No log sink is added: lines on stderr would tear the monitor's screen.
        return Settings.from_env(nats_url=nats_url)
    except ConfigurationError as exc:
        typer.echo(f"{prog}: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _serve(
    prog: str, nats_url: str | None, *, allow_actions: bool, host: str, port: int, public_url: str | None
) -> None:
    _check_settings(prog, nats_url)
    command = web.monitor_command(nats_url, allow_actions=allow_actions)
    try:
        web.serve(command, host=host, port=port, public_url=public_url)
    except web.WebError as exc:
        typer.echo(f"{prog}: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def tui_command(
    nats_url: NatsUrlOption = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Show everything, change nothing: the action keys are hidden.")
    ] = False,
    serve_web: Annotated[
        bool,
        typer.Option(
            "--web",
            help=f"Serve the monitor in a browser instead, read-only unless --allow-actions (needs "
            f"naq-tui[web]). {_NO_AUTH}",
        ),
    ] = False,
    host: _HostOption = web.DEFAULT_HOST,
    port: _PortOption = web.DEFAULT_PORT,
    allow_actions: _AllowActionsOption = False,
    public_url: _PublicUrlOption = None,
) -> None:
    """Watch queues, workers, events, schedules and failed jobs live, and act on them: purge a
    queue; pause, resume, run or cancel a schedule; requeue or delete failed jobs; cancel a job.

    With --web, serve the same monitor to browsers (--host, --port, --allow-actions and
    --public-url go with it).
    """
    if allow_actions and not serve_web:
        raise typer.BadParameter(
            "only with --web (the terminal monitor acts unless --read-only)", param_hint="--allow-actions"
        )
    if allow_actions and read_only:
        raise typer.BadParameter("contradicts --read-only", param_hint="--allow-actions")
    if serve_web:
        _serve("naq-tui", nats_url, allow_actions=allow_actions, host=host, port=port, public_url=public_url)
        return
    settings = _check_settings("naq-tui", nats_url)
    monitor = make_app(",".join(settings.servers), read_only=read_only)
    asyncio.run(closing(monitor.run_async()))


def dashboard_command(
    nats_url: NatsUrlOption = None,
    host: _HostOption = web.DEFAULT_HOST,
    port: _PortOption = web.DEFAULT_PORT,
    allow_actions: _AllowActionsOption = False,
    public_url: _PublicUrlOption = None,
) -> None:
    """Serve the monitor to browsers (naq-tui --web; needs naq-tui[web]), read-only unless
    --allow-actions.

    Each browser tab gets a monitor of its own. The page has no authentication: keep the default
    127.0.0.1, or put it behind something that authenticates.
    """
    _serve("naq dashboard", nats_url, allow_actions=allow_actions, host=host, port=port, public_url=public_url)


app = typer.Typer(name="naq-tui", help="The naq monitor.", add_completion=False, **TYPER_SETTINGS)
app.command()(tui_command)


def main() -> None:
    """Entry point of the ``naq-tui`` console script."""
    app()
