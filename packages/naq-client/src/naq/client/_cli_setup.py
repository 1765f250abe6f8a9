"""``naq setup``: the admin step that creates and updates every stream and bucket naq uses."""

from __future__ import annotations

import typer

from naq.client._cli_common import EXIT_FAILED, LogLevelOption, NatsUrlOption, cli_settings, closing, run_command
from naq.client._connection import get_connection
from naq.client._resources import SetupOutcome, setup_resources

__all__ = ["setup_command"]


def setup_command(nats_url: NatsUrlOption = None, log_level: LogLevelOption = None) -> None:
    """Create naq's streams and buckets, or update them to naq's configuration; run it once per
    deployment (and after upgrades) as a NATS user allowed to create streams. Exit 1 if one failed.

    Components whose users may not create streams need this step first (docs/security.md).
    Replicas and limits come from NAQ_REPLICAS, NAQ_RESULTS_MAX_BYTES, ... as for the components.
    """
    settings = cli_settings(nats_url, log_level)

    async def setup() -> list[SetupOutcome]:
        return await setup_resources(await get_connection(settings))

    outcomes = run_command(closing(setup()))
    for outcome in outcomes:
        detail = f": {outcome.detail}" if outcome.detail else ""
        typer.echo(f"{outcome.stream}: {outcome.action}{detail}")
    if any(outcome.action == "failed" for outcome in outcomes):
        raise typer.Exit(EXIT_FAILED)
