"""``Queue``: enqueue jobs on one queue, in bulk or one by one, and purge it."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from naq.client._backend import backend_for
from naq.client._cadence import check_repeat, check_seconds, parse_time
from naq.client._connection import Connection, get_connection
from naq.client._errors import public
from naq.client._job import Job
from naq.client._jsapi import js_api
from naq.client._options import OPTION_NAMES, Callable_, JobOptions, build_envelope, merge_kwargs, split_options
from naq.client._resources import ensure_stream
from naq.client._schedules import (
    ScheduledJob,
    cancel_schedule,
    check_cadence,
    list_schedules,
    modify_schedule,
    new_one_off,
    new_recurring,
    new_schedule_id,
    pause_schedule,
    resume_schedule,
    run_schedule_now,
    scheduled_job,
    store_schedule,
)
from naq.protocol import (
    ConfigurationError,
    ScheduleRecord,
    Settings,
    names,
    resources,
    validate_queue_name,
)
from naq.protocol.subjects import queue_subject

__all__ = ["Queue", "resolve_settings"]

_from_env: dict[tuple[Any, ...], Settings] = {}


def resolve_settings(nats_url: str | Sequence[str] | None = None, settings: Settings | None = None) -> Settings:
    """``settings`` (default: from the environment) with ``nats_url`` applied over it.

    Settings read from the environment are cached per environment and URL, so module-level calls
    made in a loop do not parse every ``NAQ_*`` variable each time.
    """
    url = nats_url if nats_url is None or isinstance(nats_url, str) else tuple(nats_url)
    if settings is None:
        key = (url, *sorted((k, v) for k, v in os.environ.items() if k.startswith("NAQ_")))
        cached = _from_env.get(key)
        if cached is None:
            cached = _from_env[key] = Settings.from_env(nats_url=url)
        return cached
    if url is None:
        return settings
    return Settings.from_env(settings.as_env(), nats_url=url)


class Queue:
    """One named queue on a NATS server.

    ``Queue("emails")`` uses ``NAQ_*`` settings from the environment; ``nats_url`` or ``settings``
    override them. The connection is shared per event loop and server set, and opened on first use.
    """

    def __init__(
        self,
        name: str | None = None,
        nats_url: str | Sequence[str] | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.settings = resolve_settings(nats_url, settings)
        self.name = validate_queue_name(name if name is not None else self.settings.default_queue)

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, nats_url={','.join(self.settings.nats_url)!r})"

    async def _connection(self) -> Connection:
        return await get_connection(self.settings)

    @public
    async def enqueue(
        self,
        func: Callable_,
        /,
        *args: Any,
        job_id: str | None = None,
        max_retries: int = 0,
        retry_delay: float | Sequence[float] = 0.0,
        retry_strategy: str = "fixed",
        retry_jitter: bool = False,
        retry_max_delay: float | None = None,
        retry_on: Iterable[type[BaseException] | str] = (),
        ignore_on: Iterable[type[BaseException] | str] = (),
        depends_on: Any = None,
        dependency_timeout: float | None = None,
        timeout: float | None = None,
        result_ttl: int | None = None,
        serializer: str | None = None,
        func_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Enqueue ``func(*args, **kwargs)`` and return its :class:`Job`.

        ``func`` is a module-level function (or its ``"module:function"`` reference); with
        ``serializer="pickle"`` any picklable callable. Options, all keyword-only:

        - ``job_id``: your own id (``[A-Za-z0-9_-]{1,64}``); the same id enqueued twice within two
          minutes is one job. Default: a random id.
        - ``max_retries``: retries after the first attempt (0: none).
        - ``retry_delay``: seconds before a retry: one number shaped by ``retry_strategy``
          (``fixed``, ``linear`` = delay x n, ``exponential`` = delay x 2^(n-1)), or one entry per
          retry (the last repeats); ``retry_jitter`` randomises each delay by up to half,
          ``retry_max_delay`` caps it.
        - ``retry_on`` / ``ignore_on``: exception classes (or ``"module:Class"``) that are retried /
          never retried; subclasses match.
        - ``depends_on``: job ids or Job handles (one, or a list) that must complete first. Until
          they have, the job is parked: it holds no worker and no queue capacity. If one fails
          for good or is cancelled, this job fails with ``DependencyFailedError`` without running.
        - ``dependency_timeout``: seconds to wait for ``depends_on`` jobs to end (default
          ``NAQ_DEPENDENCY_TIMEOUT``, 24 h; at most ``NAQ_JOB_STATUS_TTL``); a dependency not
          ended by then (e.g. an id never enqueued) fails this job with ``DependencyFailedError``.
        - ``timeout``: seconds the function may run.
        - ``result_ttl``: seconds the result is kept (default ``NAQ_DEFAULT_RESULT_TTL``; 0 keeps none).
        - ``serializer``: ``"json"`` (default ``NAQ_JOB_SERIALIZER``) or ``"pickle"``.
        - ``func_kwargs``: keyword arguments for ``func`` whose names collide with these options.

        Raises ``SerializationError`` (naming the argument) for what the serializer cannot carry,
        ``ConfigurationError`` for a bad option, ``QueueFullError`` when the queue is at its size
        limit and ``NaqConnectionError`` when NATS cannot be reached.
        """
        options = JobOptions(
            job_id=job_id,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_strategy=retry_strategy,
            retry_jitter=retry_jitter,
            retry_max_delay=retry_max_delay,
            retry_on=retry_on,
            ignore_on=ignore_on,
            depends_on=depends_on,
            dependency_timeout=dependency_timeout,
            timeout=timeout,
            result_ttl=result_ttl,
            serializer=serializer,
        )
        call_kwargs = merge_kwargs(kwargs, func_kwargs)
        envelope = build_envelope(func, args, call_kwargs, options, self.name, self.settings)
        await backend_for(self.settings).submit([envelope])
        return Job(envelope.job_id, self.name, self.settings)

    @public
    async def enqueue_many(
        self,
        func: Callable_,
        calls: Iterable[Sequence[Any] | tuple[Sequence[Any], dict[str, Any]]],
        **options: Any,
    ) -> list[Job]:
        """Enqueue one job per entry of ``calls`` with pipelined publishes; returns their Jobs in order.

        Each entry is the positional arguments (a list or tuple), or a pair ``(args, kwargs)``.
        ``options`` are ``enqueue``'s options, applied to every job (``job_id`` is not allowed:
        ids must differ).

        All or nothing for what can be checked first: every job is built and measured (arguments,
        options, its size against the server's max payload, the queue's fullness) before the first
        is published, so one bad job enqueues none. If a publish fails after that (the stream
        refuses a message, an acknowledgement does not come), ``PartialEnqueueError`` says which
        jobs were enqueued (``.enqueued``, their handles) and which were not or may not have been
        (``.not_enqueued``, their ids, to enqueue again with ``enqueue(..., job_id=...)``: the
        duplicate window makes a retry of a job that did get through a no-op).
        """
        if "job_id" in options:
            raise ConfigurationError("enqueue_many gives each job its own id; job_id is not allowed")
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise ConfigurationError(f"enqueue_many takes enqueue's options; unknown: {', '.join(unknown)}")
        job_options = JobOptions(**options)
        if isinstance(calls, str | bytes) or not isinstance(calls, Iterable):
            raise ConfigurationError(f"calls must be a list of argument lists, got {calls!r}")
        envelopes = []
        for call in calls:
            if isinstance(call, tuple) and len(call) == 2 and isinstance(call[1], dict):
                args, call_kwargs = call
            else:
                args, call_kwargs = call, {}
            if isinstance(args, str | bytes) or not isinstance(args, Sequence):
                raise ConfigurationError(
                    f"each entry of calls is a list of positional arguments or a pair (args, kwargs), got {call!r}"
                )
            envelopes.append(build_envelope(func, tuple(args), call_kwargs, job_options, self.name, self.settings))
        if envelopes:
            await backend_for(self.settings).submit(envelopes)
        return [Job(envelope.job_id, self.name, self.settings) for envelope in envelopes]

    @public
    async def purge(self) -> int:
        """Remove every job waiting on this queue (no other queue is touched); returns how many."""
        connection = await self._connection()
        await ensure_stream(connection, resources.jobs_stream(connection.settings))
        reply = await js_api(connection, f"STREAM.PURGE.{names.JOBS_STREAM}", {"filter": queue_subject(self.name)})
        return int(reply.get("purged", 0))

    # --- delayed and recurring jobs (fired by a running naq-scheduler) -------------------------

    @public
    async def enqueue_at(
        self,
        when: datetime | float,
        func: Callable_,
        /,
        *args: Any,
        func_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Run ``func(*args, **kwargs)`` once at ``when`` (a datetime, naive = UTC, or a Unix time).

        Takes ``enqueue``'s options. The returned Job's id is the id the run will carry, so
        ``await job.result()`` waits for it and ``cancel_job`` before it fires cancels it. A time in
        the past runs at the scheduler's next tick. Needs a running ``naq-scheduler``.
        """
        options, call_kwargs = split_options(kwargs, func_kwargs)
        run_at = parse_time(when, "when")
        record = new_one_off(scheduled_job(func, args, call_kwargs, options, self.name, self.settings), run_at)
        await store_schedule(self.settings, record)
        return Job(record.job.job_id, self.name, self.settings)

    @public
    async def enqueue_in(
        self,
        delay: timedelta | float,
        func: Callable_,
        /,
        *args: Any,
        func_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Run ``func(*args, **kwargs)`` once after ``delay`` (a timedelta or seconds); see :meth:`enqueue_at`."""
        run_at = time.time() + check_seconds(delay, "delay", allow_zero=True)
        return await self.enqueue_at(run_at, func, *args, func_kwargs=func_kwargs, **kwargs)

    @public
    async def schedule(
        self,
        func: Callable_,
        /,
        *args: Any,
        cron: str | None = None,
        interval: timedelta | float | None = None,
        repeat: int | None = None,
        cron_tz: str | None = None,
        schedule_id: str | None = None,
        func_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ScheduledJob:
        """Run ``func(*args, **kwargs)`` on a cron expression or every ``interval``; returns its handle.

        - ``cron``: 5 fields, or 6 with seconds last (``"* * * * * */10"``: every 10 s), read in ``cron_tz``
          (an IANA zone; default UTC; DST behaviour in :mod:`naq.client._cadence`).
        - ``interval``: seconds or a timedelta; the first run is one interval from now.
        - ``repeat``: how many runs in all (default: forever); then the schedule is removed.
        - ``schedule_id``: your own id (``job_id`` is accepted as its original-naq name); an id in
          use is a ``ConfigurationError``.

        Takes ``enqueue``'s options, applied to every run; each run is a job of its own whose id is
        derived from the schedule id and its due time. Runs missed while no scheduler led, or
        while paused, merge into one catch-up run. Errors at the call: ``ConfigurationError`` for
        cron and interval together or neither, or a bad cron expression (croniter's reason);
        ``ValueError`` for a non-positive repeat, or an interval below ``NAQ_MIN_SCHEDULE_INTERVAL``
        (1 s by default, inclusive).
        """
        if "job_id" in kwargs:
            if schedule_id is not None:
                raise ConfigurationError("give schedule_id or job_id (its original-naq name), not both")
            schedule_id = kwargs.pop("job_id")
        options, call_kwargs = split_options(kwargs, func_kwargs)
        cadence = check_cadence(cron, cron_tz, interval, self.settings)
        repeat = check_repeat(repeat)
        options = dataclasses.replace(options, job_id=new_schedule_id(schedule_id))
        job = scheduled_job(func, args, call_kwargs, options, self.name, self.settings)
        record = new_recurring(job, cadence, repeat)
        await store_schedule(self.settings, record)
        return ScheduledJob(record.schedule_id, self.name, self.settings)

    @public
    async def cancel_scheduled_job(self, job_id: str) -> bool:
        """Delete a schedule or a pending one-off job for good; False if unknown."""
        return await cancel_schedule(self.settings, job_id)

    @public
    async def pause_scheduled_job(self, job_id: str) -> bool:
        """Stop a schedule firing until resumed; False if unknown."""
        return await pause_schedule(self.settings, job_id)

    @public
    async def resume_scheduled_job(self, job_id: str) -> bool:
        """Let a paused (or failed) schedule fire again; False if unknown."""
        return await resume_schedule(self.settings, job_id)

    @public
    async def modify_scheduled_job(self, job_id: str, **changes: Any) -> ScheduleRecord:
        """Change ``cron``, ``cron_tz``, ``interval``, ``repeat`` or ``next_run`` of a schedule.

        ``ConfigurationError`` for any other key, ``JobNotFoundError`` for an unknown id.
        """
        return await modify_schedule(self.settings, job_id, changes)

    @public
    async def run_scheduled_job_now(self, schedule_id: str, job_id: str | None = None) -> Job:
        """Enqueue one extra run of a schedule now; its :class:`Job` (``await job.result()``).

        The schedule's next due run does not move and the extra run does not count against
        ``repeat``. Each call is one run, with the id ``<schedule_id>-n<call time in ms>``; pass
        ``job_id`` to make a retried call one run. A one-off job (``enqueue_at``) runs now instead
        of at its time. ``JobNotFoundError`` for an unknown or cancelled schedule. Needs no
        running scheduler; a worker runs the job. (The run goes to the schedule's own queue.)
        """
        return await run_schedule_now(self.settings, schedule_id, job_id)

    @public
    async def list_scheduled_jobs(self, status: str | None = None) -> list[ScheduleRecord]:
        """This queue's schedules (in ``status``, when given), soonest first."""
        return await list_schedules(self.settings, status, self.name)
