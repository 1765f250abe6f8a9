"""The ``naq`` commands for scheduled jobs: ``list-scheduled`` and ``job-control``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from naq.client._cli_common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    LogLevelOption,
    NatsUrlOption,
    cli_settings,
    closing,
    non_negative_seconds,
    run_command,
)
from naq.client._schedules import (
    cancel_schedule,
    list_schedules,
    modify_schedule,
    pause_schedule,
    resume_schedule,
    run_schedule_now,
)
from naq.protocol import ScheduleRecord

__all__ = ["ControlAction", "job_control", "list_scheduled"]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cadence(record: ScheduleRecord) -> str:
    if record.cron is not None:
        return f"cron {record.cron!r}" + (f" ({record.cron_tz})" if record.cron_tz else "")
    if record.interval is not None:
        return f"every {record.interval:g} s"
    return "once"


def list_scheduled(
    status: Annotated[
        str | None, typer.Option("--status", help="Only active, paused, failed (or completed, cancelled).")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue.")] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", help="Only this schedule or scheduled job.")] = None,
    detailed: Annotated[bool, typer.Option("--detailed", help="Every field, the job included, as JSON.")] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """List schedules and pending one-off jobs of every queue, soonest first."""
    settings = cli_settings(nats_url, log_level)
    records = [
        r
        for r in run_command(closing(list_schedules(settings, status, queue)))
        if job_id is None or r.schedule_id == job_id
    ]
    for record in records:
        if detailed:
            typer.echo(json.dumps(record.to_dict(), indent=2))
            continue
        runs = f"{record.runs}/{record.repeat}" if record.repeat is not None else f"{record.runs}"
        line = (
            f"{record.schedule_id}  {record.job.queue}  {record.status}  {_cadence(record)}  "
            f"next={_when(record.next_run_at)}  runs={runs}  {record.job.function}"
        )
        if record.last_error:
            line += f"  last_error={record.last_error!r}"
        typer.echo(line)
    if not records:
        typer.echo("no scheduled jobs", err=True)
        if job_id is not None:
            raise typer.Exit(EXIT_FAILED)


class ControlAction(StrEnum):
    """What ``naq job-control`` does to a schedule."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RESCHEDULE = "reschedule"
    RUN_NOW = "run-now"


def job_control(
    job_id: Annotated[str, typer.Argument(help="The schedule's (or scheduled job's) id.")],
    action: Annotated[ControlAction, typer.Argument(help="What to do to the schedule (one of the choices shown).")],
    cron: Annotated[str | None, typer.Option("--cron", help="reschedule: a new cron expression.")] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval", help="reschedule: a new interval, seconds (at least NAQ_MIN_SCHEDULE_INTERVAL, default 1)."
        ),
    ] = None,
    repeat: Annotated[int | None, typer.Option("--repeat", help="reschedule: runs in all.")] = None,
    next_run: Annotated[
        str | None, typer.Option("--next-run", help="reschedule: the next run, ISO 8601 (naive = UTC).")
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="run-now: the extra run's job id (a command retried with it is one run)."),
    ] = None,
    wait: Annotated[
        float | None,
        typer.Option("--wait", help="run-now: wait up to SECONDS and print the result.", callback=non_negative_seconds),
    ] = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Cancel, pause, resume or reschedule a scheduled job, or run it once now (exit 1 if there is
    no such schedule).

    run-now enqueues one extra run and prints its job id (with --wait, its result): the next due
    run does not move and the extra run does not count against the schedule's repeat. A one-off
    job runs now instead of at its time. A worker must be running; a scheduler need not.
    """
    settings = cli_settings(nats_url, log_level)
    given = {"cron": cron, "interval": interval, "repeat": repeat, "next_run": next_run}
    changes = {k: v for k, v in given.items() if v is not None}
    if action is not ControlAction.RESCHEDULE and changes:
        typer.echo("naq: --cron, --interval, --repeat and --next-run go with reschedule", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if action is not ControlAction.RUN_NOW and (run_id is not None or wait is not None):
        typer.echo("naq: --run-id and --wait go with run-now", err=True)
        raise typer.Exit(EXIT_CONFIG)
    if action is ControlAction.RUN_NOW:

        async def run_now() -> tuple[str, Any]:
            job = await run_schedule_now(settings, job_id, run_id)
            return job.job_id, (await job.result(timeout=wait) if wait is not None else None)

        ran_id, value = run_command(closing(run_now()))
        typer.echo(json.dumps(value, default=repr) if wait is not None else ran_id)
        return
    if action is ControlAction.RESCHEDULE:
        if not changes:
            typer.echo("naq: reschedule needs --cron, --interval, --repeat or --next-run", err=True)
            raise typer.Exit(EXIT_CONFIG)
        record = run_command(closing(modify_schedule(settings, job_id, changes)))
        typer.echo(f"rescheduled {job_id}: {_cadence(record)}, next run {_when(record.next_run_at)}")
        return
    operation = {
        ControlAction.CANCEL: cancel_schedule,
        ControlAction.PAUSE: pause_schedule,
        ControlAction.RESUME: resume_schedule,
    }[action]
    if not run_command(closing(operation(settings, job_id))):
        typer.echo(f"naq: no scheduled job {job_id}", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"{action.value}{'led' if action is ControlAction.CANCEL else 'd'} {job_id}")
