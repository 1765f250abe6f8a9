"""``naq-scheduler`` (also ``naq scheduler``): run a scheduler until SIGTERM/SIGINT.

Exit codes: 0 stopped cleanly; 3 NATS unreachable; 4 bad settings (see naq.client's command line).
"""

from __future__ import annotations

from typing import Annotated

import typer

from naq.client.runtime import (
    TYPER_SETTINGS,
    LogLevelOption,
    NatsUrlOption,
    cli_settings,
    closing,
    run_command,
)
from naq.scheduler._scheduler import Scheduler

__all__ = ["app", "main", "scheduler_command"]


def scheduler_command(
    poll_interval: Annotated[
        float | None, typer.Option("--poll-interval", help="Seconds between ticks (env: NAQ_SCHEDULER_POLL_INTERVAL).")
    ] = None,
    instance_id: Annotated[
        str | None, typer.Option("--instance-id", help="This scheduler's id (default: host-pid-random).")
    ] = None,
    enable_ha: Annotated[
        bool,
        typer.Option("--ha/--no-ha", help="Elect a leader among schedulers (--no-ha: run only one scheduler)."),
    ] = True,
    lock_ttl: Annotated[
        int | None, typer.Option("--lock-ttl", help="Leader lock TTL, whole seconds (env: NAQ_SCHEDULER_LOCK_TTL).")
    ] = None,
    renew_interval: Annotated[
        float | None,
        typer.Option("--renew-interval", help="Seconds between renewals (env: NAQ_SCHEDULER_LOCK_RENEW_INTERVAL)."),
    ] = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Fire delayed and recurring jobs; run 2-3 for high availability (one leads)."""
    settings = cli_settings(
        nats_url,
        log_level,
        scheduler_poll_interval=poll_interval,
        scheduler_lock_ttl=lock_ttl,
        scheduler_lock_renew_interval=renew_interval,
    )

    run_command(closing(Scheduler(instance_id=instance_id, enable_ha=enable_ha, settings=settings).run()))


app = typer.Typer(name="naq-scheduler", help="Run a naq scheduler.", add_completion=False, **TYPER_SETTINGS)
app.command()(scheduler_command)


def main() -> None:
    """Entry point of the ``naq-scheduler`` console script."""
    app()
