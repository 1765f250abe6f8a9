"""The ``naq`` command. Other naq packages add subcommands through the ``naq.cli`` entry points.

An entry point in that group names either a ``typer.Typer`` (added as a command group) or a plain
function (added as one command), under the entry point's name. Exit codes: see ``_cli_common``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Annotated, Any

import typer

from naq.client._cancel import cancel_job
from naq.client._cli_common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    TYPER_SETTINGS,
    LogLevelOption,
    NatsUrlOption,
    cli_settings,
    closing,
    keep_root_options,
    non_negative_seconds,
    run_command,
)
from naq.client._cli_schedules import job_control, list_scheduled
from naq.client._cli_server import server_command
from naq.client._cli_setup import setup_command
from naq.client._connection import get_connection
from naq.client._failed import (
    FailedEntry,
    delete_failed,
    describe,
    find_failed,
    list_failed,
    render,
    requeue_failed,
)
from naq.client._job import Job
from naq.client._job_state import QUEUED_SCAN_LIMIT, JobState, read_job_state
from naq.client._queue import Queue
from naq.client._results import fetch_result_value
from naq.client._version import __version__
from naq.client._workers import read_workers
from naq.protocol import JobStatus, Settings

__all__ = ["ENTRY_POINT_GROUP", "add_plugins", "app", "main"]

ENTRY_POINT_GROUP = "naq.cli"
"""Entry-point group through which installed naq packages add ``naq`` subcommands."""

app = typer.Typer(name="naq", help="naq: a Python job queue on NATS JetStream.", no_args_is_help=True, **TYPER_SETTINGS)
failed_app = typer.Typer(
    help="The dead-letter queue: jobs that failed for good.", no_args_is_help=True, **TYPER_SETTINGS
)
app.add_typer(failed_app, name="failed")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"naq {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """naq: a Python job queue on NATS JetStream.

    --nats-url and --log-level go before the command or after it (after wins).
    """
    keep_root_options(ctx, nats_url, log_level)


@app.command()
def purge(
    queues: Annotated[list[str], typer.Argument(help="Queues to empty.")],
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Remove every waiting job from QUEUES; prints how many per queue."""
    settings = cli_settings(nats_url, log_level)

    async def purge_all() -> dict[str, int]:
        return {queue: await Queue(queue, settings=settings).purge() for queue in queues}

    for queue, count in run_command(closing(purge_all())).items():
        typer.echo(f"{queue}: {count} job(s) purged")


@app.command("list-workers")
def list_workers_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per worker.")] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Show the live workers and what they are doing."""
    settings = cli_settings(nats_url, log_level)

    async def read() -> Any:
        return await read_workers(await get_connection(settings))

    workers = run_command(closing(read()))
    for worker in workers:
        if as_json:
            typer.echo(json.dumps(worker.to_dict()))
        else:
            typer.echo(
                f"{worker.worker_id}  {worker.status}  queues={','.join(worker.queues)}  "
                f"running={len(worker.current_jobs)}/{worker.concurrency}  "
                f"processed={worker.processed} failed={worker.failed}  host={worker.hostname} pid={worker.pid}"
            )
    if not workers and not as_json:
        typer.echo("no live workers")


@app.command()
def result(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    wait: Annotated[
        float | None,
        typer.Option("--wait", help="Wait up to SECONDS for the job to end.", callback=non_negative_seconds),
    ] = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Print a job's result as JSON (exit 1 if it failed, is unknown, or --wait ran out)."""
    settings = cli_settings(nats_url, log_level)

    async def read() -> Any:
        if wait is not None:
            return await Job(job_id, settings.default_queue, settings).result(timeout=wait)
        return await fetch_result_value(await get_connection(settings), job_id, settings.allow_pickle)

    value = run_command(closing(read()))
    typer.echo(json.dumps(value, default=repr))


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="The job's queue (default: every queue).")] = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Print where a job is: scheduled (and when), waiting, queued, running, retrying, completed,
    failed or cancelled; unknown (exit 1) if naq finds no trace of it."""
    settings = cli_settings(nats_url, log_level)

    async def read() -> JobState:
        return await read_job_state(await get_connection(settings), job_id, queue)

    state = run_command(closing(read()))
    typer.echo(_state_line(state))
    if state.status == JobStatus.UNKNOWN:
        typer.echo(
            f"naq: no trace of job {job_id}: no result or status, not running or scheduled, and not among "
            f"the first {QUEUED_SCAN_LIMIT} messages waiting on {f'queue {queue}' if queue else 'any queue'}",
            err=True,
        )
        raise typer.Exit(EXIT_FAILED)


def _state_line(state: JobState) -> str:
    if state.at is None:
        return str(state.status)
    when = datetime.fromtimestamp(state.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if state.status == JobStatus.RETRYING:
        return f"retrying, next attempt at {when}"
    return f"{state.status} at {when}"


@app.command()
def cancel(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Cancel a queued, waiting or running job (exit 1 if it had already ended or is unknown)."""
    settings = cli_settings(nats_url, log_level)

    async def cancel_it() -> bool:
        return await cancel_job(await get_connection(settings), job_id)

    if run_command(closing(cancel_it())):
        typer.echo(f"cancelled {job_id}")
        return
    typer.echo(f"job {job_id} was not cancelled: it already ended, or naq knows no such job", err=True)
    raise typer.Exit(EXIT_FAILED)


@app.command()
def enqueue(
    function: Annotated[str, typer.Argument(help="The function, as package.module:function.")],
    args: Annotated[list[str] | None, typer.Argument(help="Positional arguments, each a JSON value.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Queue (env: NAQ_DEFAULT_QUEUE).")] = None,
    kwargs: Annotated[str | None, typer.Option("--kwargs", help="Keyword arguments as one JSON object.")] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", help="Your own job id.")] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", help="Retries after the first attempt.")] = 0,
    wait: Annotated[
        float | None,
        typer.Option("--wait", help="Wait up to SECONDS and print the result.", callback=non_negative_seconds),
    ] = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Enqueue FUNCTION(ARGS...) and print the job id (or, with --wait, its result)."""
    settings = cli_settings(nats_url, log_level)
    try:
        positional = [json.loads(arg) for arg in args or []]
        keywords = json.loads(kwargs) if kwargs else {}
    except json.JSONDecodeError as exc:
        typer.echo(f"naq: arguments must be JSON values: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if not isinstance(keywords, dict):
        typer.echo("naq: --kwargs must be a JSON object", err=True)
        raise typer.Exit(EXIT_CONFIG)

    async def send() -> Any:
        job = await Queue(queue, settings=settings).enqueue(
            function, *positional, job_id=job_id, max_retries=max_retries, func_kwargs=keywords
        )
        return job.job_id, (await job.result(timeout=wait) if wait is not None else None)

    sent_id, value = run_command(closing(send()))
    typer.echo(json.dumps(value, default=repr) if wait is not None else sent_id)


QueueFilter = Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue.")]

app.command("list-scheduled")(list_scheduled)
app.command("job-control")(job_control)
app.command("server")(server_command)
app.command("setup")(setup_command)


# --- naq failed ... ------------------------------------------------------------------------------


def _selected(settings: Settings, ids: list[str] | None, every: bool, queue: str | None) -> list[FailedEntry]:
    if bool(ids) == every:
        typer.echo("naq: name job ids, or use --all (optionally with --queue)", err=True)
        raise typer.Exit(EXIT_CONFIG)

    async def find() -> list[FailedEntry]:
        connection = await get_connection(settings)
        if every:
            return await list_failed(connection, queue)
        return [await find_failed(connection, job_id, queue) for job_id in ids or []]

    return run_command(closing(find()))


AllOption = Annotated[bool, typer.Option("--all", help="Every failed job (of --queue, if given).")]
IdsArgument = Annotated[list[str] | None, typer.Argument(help="Job ids (or _raw.<seq> for undecodable messages).")]


@failed_app.command("list")
def failed_list(
    queue: QueueFilter = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per failed job.")] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """List failed jobs: id, queue, error."""
    settings = cli_settings(nats_url, log_level)

    async def read() -> list[FailedEntry]:
        return await list_failed(await get_connection(settings), queue)

    entries = run_command(closing(read()))
    for entry in entries:
        if as_json:
            typer.echo(json.dumps(describe(entry)))
        else:
            error = entry.record.error
            typer.echo(f"{entry.id}  {entry.queue}  {error.type}: {error.message}")
    if not entries and not as_json:
        typer.echo("no failed jobs")


@failed_app.command("show")
def failed_show(
    job_id: Annotated[str, typer.Argument(help="The failed job's id.")],
    queue: QueueFilter = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, the traceback in it.")] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Show a failed job in full, traceback included."""
    settings = cli_settings(nats_url, log_level)
    [entry] = _selected(settings, [job_id], False, queue)
    typer.echo(json.dumps(describe(entry), indent=2) if as_json else render(entry))


@failed_app.command("requeue")
def failed_requeue(
    ids: IdsArgument = None,
    every: AllOption = False,
    queue: QueueFilter = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Put failed jobs back on their queues, as they were, with fresh attempts."""
    settings = cli_settings(nats_url, log_level)
    entries = [e for e in _selected(settings, ids, every, queue) if not (every and e.raw)]

    async def requeue() -> list[str]:
        connection = await get_connection(settings)
        return [await requeue_failed(connection, entry) for entry in entries]

    for job_id in run_command(closing(requeue())):
        typer.echo(f"requeued {job_id}")
    if not entries:
        raise typer.Exit(EXIT_FAILED)


@failed_app.command("delete")
def failed_delete(
    ids: IdsArgument = None,
    every: AllOption = False,
    queue: QueueFilter = None,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Remove failed jobs from the dead-letter queue for good."""
    settings = cli_settings(nats_url, log_level)
    entries = _selected(settings, ids, every, queue)

    async def delete() -> None:
        connection = await get_connection(settings)
        for entry in entries:
            await delete_failed(connection, entry)

    run_command(closing(delete()))
    typer.echo(f"deleted {len(entries)} failed job(s)")


def add_plugins(target: typer.Typer) -> None:
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
    add_plugins(app)
    app()
