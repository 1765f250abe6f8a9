"""``naq-worker QUEUE...`` (also ``naq worker QUEUE...``): run a worker until SIGTERM/SIGINT.

Exit codes: 0 stopped cleanly (or --burst drained its queues); 3 NATS unreachable; 4 bad settings
or hooks; see naq.client's command line for the rest. ``--check`` (a container's health check)
exits 0 if this host's worker (or ``--name``'s) has a live registry record, 1 if not, 3 if NATS
cannot be reached.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from naq.client.runtime import (
    EXIT_CONFIG,
    EXIT_FAILED,
    TYPER_SETTINGS,
    LogLevelOption,
    NatsUrlOption,
    cli_settings,
    closing,
    run_command,
)
from naq.protocol import resolve_ref
from naq.worker._health import check_worker
from naq.worker._worker import Worker

__all__ = ["app", "main", "worker_command"]

HookOption = Annotated[list[str] | None, typer.Option(help="A hook as package.module:function (repeatable).")]


def _load_hooks(refs: list[str] | None, option: str) -> list[Any]:
    hooks = []
    for ref in refs or []:
        try:
            hook = resolve_ref(ref)
        except Exception as exc:  # importing user code can raise anything
            typer.echo(f"naq-worker: cannot load {option} {ref}: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        hooks.append(hook)
    return hooks


def _import_from_cwd() -> None:
    """Put the current directory first on the import path, as ``python -m`` and ``celery`` do.

    A console script's import path starts with its own ``bin`` folder, so without this the
    ``tasks.py`` next to which the worker was started could not be imported.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def worker_command(
    queues: Annotated[list[str] | None, typer.Argument(help="Queues to serve (default: NAQ_DEFAULT_QUEUE).")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Jobs run at once.")] = 10,
    name: Annotated[str | None, typer.Option("--name", help="Worker id (default: host-pid-random).")] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit 0 once the queues are empty.")] = False,
    grace: Annotated[float, typer.Option("--grace", help="Seconds running jobs get to finish on SIGTERM.")] = 30.0,
    allow_module: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-module",
            help="Module prefix job functions may come from (repeatable; 'tasks' allows tasks and tasks.mail, "
            "not tasksx) (env: NAQ_ALLOWED_MODULES). Without it the worker refuses to start, unless "
            "--allow-any-module. Modules that run code or commands (os, subprocess, builtins, ...) are "
            "allowed only when named here explicitly.",
        ),
    ] = None,
    allow_any_module: Annotated[
        bool | None,
        typer.Option(
            "--allow-any-module",
            help="Run functions of any module when no allowed modules are set (dangerous, logged as a "
            "warning; never os, subprocess, builtins or the other modules that run code or commands; "
            "ignored when allowed modules are set) (env: NAQ_ALLOW_ANY_MODULE).",
        ),
    ] = None,
    allow_pickle: Annotated[
        bool | None, typer.Option("--allow-pickle/--no-allow-pickle", help="Run pickle jobs (env: NAQ_ALLOW_PICKLE).")
    ] = None,
    on_startup: HookOption = None,
    on_shutdown: HookOption = None,
    before_job: HookOption = None,
    after_job: HookOption = None,
    import_cwd: Annotated[
        bool,
        typer.Option(
            "--import-cwd/--no-import-cwd", help="Import job modules and hooks from the current directory too."
        ),
    ] = True,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Health check, then exit: 0 if this worker has a live heartbeat record, 1 if not, 3 if NATS "
            "is unreachable. The worker is found by --name, else by hostname (one worker per container: a "
            "worker is one process). QUEUES and the other options are ignored.",
        ),
    ] = False,
    nats_url: NatsUrlOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Run a worker on QUEUES until SIGTERM/SIGINT (a second signal stops at once).

    A worker is one process (there is no multi-process mode): run one per container and scale
    the containers.
    """
    if check:
        _check(name, nats_url, log_level)
        return
    settings = cli_settings(nats_url, log_level)
    if import_cwd:  # before the hooks load: they are the user's modules too
        _import_from_cwd()
    try:
        worker = Worker(
            queues or None,
            concurrency=concurrency,
            name=name,
            settings=settings,
            burst=burst,
            grace=grace,
            allow_pickle=allow_pickle,
            allowed_modules=allow_module or None,
            allow_any_module=allow_any_module,
            on_startup=_load_hooks(on_startup, "--on-startup"),
            on_shutdown=_load_hooks(on_shutdown, "--on-shutdown"),
            before_job=_load_hooks(before_job, "--before-job"),
            after_job=_load_hooks(after_job, "--after-job"),
        )
    except ValueError as exc:
        typer.echo(f"naq-worker: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None

    run_command(closing(worker.run()))


def _check(name: str | None, nats_url: str | None, log_level: str | None) -> None:
    # Quiet unless asked: a health check's output is its one line (docker keeps it in the state).
    settings = cli_settings(nats_url, log_level or "ERROR")
    healthy, reason = run_command(closing(check_worker(settings, name)))
    if not healthy:
        typer.echo(f"naq-worker: unhealthy: {reason}", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"naq-worker: healthy: {reason}")


app = typer.Typer(name="naq-worker", help="Run a naq worker.", add_completion=False, **TYPER_SETTINGS)
app.command()(worker_command)


def main() -> None:
    """Entry point of the ``naq-worker`` console script."""
    app()
