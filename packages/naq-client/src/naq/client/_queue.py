"""``Queue``: enqueue jobs on one queue, in bulk or one by one, and purge it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import nats.errors
import nats.js.errors

from naq.client._acks import check_job_size, publish_acked
from naq.client._backend import backend_for
from naq.client._cadence import check_repeat, check_seconds, parse_time
from naq.client._connection import Connection, get_connection
from naq.client._dependencies import DependencyStates, decide, dependency_states, park
from naq.client._events import announce_jobs
from naq.client._job import Job
from naq.client._jsapi import STREAM_NOT_FOUND, JetStreamAPIError, js_api
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
    scheduled_job,
    store_schedule,
)
from naq.protocol import (
    ConfigurationError,
    DependencyVerdict,
    EventKind,
    JobEnvelope,
    JobTooLargeError,
    NaqConnectionError,
    PartialEnqueueError,
    QueueFullError,
    ScheduleRecord,
    Settings,
    names,
    resources,
    validate_queue_name,
)
from naq.protocol.subjects import queue_subject

__all__ = ["Queue", "publish_envelopes", "resolve_settings", "submit"]

_FULLNESS_REFRESH: Final = 1.0
"""Seconds the job stream's size is cached between checks: a queue-full check is not per job."""

_PUBLISH_TIMEOUT: Final = 10.0

_PUBLISH_WINDOW: Final = 1000
"""Most job publishes awaiting their acknowledgement at once in ``enqueue_many``."""


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


async def _check_not_full(connection: Connection) -> None:
    settings = connection.settings
    if settings.queue_max_bytes == -1:
        return
    cache = connection.state.setdefault("fullness", {"checked": 0.0, "bytes": 0})
    now = time.monotonic()
    if now - cache["checked"] >= _FULLNESS_REFRESH:
        try:
            info = await js_api(connection, f"STREAM.INFO.{names.JOBS_STREAM}")
        except JetStreamAPIError as exc:
            if exc.code != STREAM_NOT_FOUND:
                raise
            # Deleted behind our back (an operator, a test): create it again rather than fail.
            connection.ensured.discard(names.JOBS_STREAM)
            await ensure_stream(connection, resources.jobs_stream(settings))
            info = await js_api(connection, f"STREAM.INFO.{names.JOBS_STREAM}")
        cache.update(checked=now, bytes=info["state"]["bytes"])
    if resources.queue_is_full(cache["bytes"], settings):
        raise QueueFullError(
            f"the job stream holds {cache['bytes']} bytes, at its limit NAQ_QUEUE_MAX_BYTES={settings.queue_max_bytes}"
        )


def _publish_error(exc: Exception, job_id: str) -> Exception:
    text = str(exc).lower()
    if "maximum bytes" in text or "maximum messages" in text or "insufficient" in text or "resources exceeded" in text:
        return QueueFullError(f"job {job_id} was not enqueued: the job stream is full ({exc})")
    if isinstance(exc, nats.errors.TimeoutError | nats.js.errors.NoStreamResponseError):
        return NaqConnectionError(f"job {job_id} may not have been enqueued: no acknowledgement from JetStream ({exc})")
    return exc


async def publish_envelopes(connection: Connection, envelopes: Sequence[JobEnvelope]) -> None:
    """Publish jobs for the first time (message id = job id), pipelined, then their events.

    A job with ``depends_on`` goes to its queue only if its dependencies are decided (all
    completed, or one failed: the worker then fails it); otherwise it is parked until they end.

    Everything that can be checked is checked before the first publish, so a bad job enqueues
    none: the queue's fullness (``QueueFullError``) and every message's size against the server's
    max payload, headers included (``JobTooLargeError``). A publish that fails after that (the
    stream refuses a message, an acknowledgement does not come) raises the error itself for one
    job, and ``PartialEnqueueError`` for several: which were enqueued and which may not be.
    """
    await ensure_stream(connection, resources.jobs_stream(connection.settings))
    await _check_not_full(connection)
    dependents = [envelope for envelope in envelopes if envelope.depends_on]
    verdicts: dict[str, DependencyVerdict] = {}
    waiting: list[JobEnvelope] = []
    states: DependencyStates = {}
    if dependents:
        states = await dependency_states(connection, (d for envelope in dependents for d in envelope.depends_on))
        for envelope in dependents:
            verdict = decide(envelope, states)
            if verdict is None:
                waiting.append(envelope)
            else:
                verdicts[envelope.job_id] = verdict
    parked = {envelope.job_id for envelope in waiting}
    messages = [_first_publish(connection, e, verdicts) for e in envelopes if e.job_id not in parked]
    if waiting:
        try:
            await park(connection, waiting, states)  # measures every parking before writing any
        except JobTooLargeError:
            raise
        except Exception as exc:
            if len(envelopes) == 1:
                raise
            raise _partial(connection, [], envelopes, exc) from exc
    acked: list[JobEnvelope] = list(waiting)
    failed = await _publish_windows(connection, messages, acked)
    if failed is not None:
        envelope, error = failed
        cause = _publish_error(error, envelope.job_id)
        if cause is not error:
            cause.__cause__ = error
        if len(envelopes) == 1:
            raise cause from error
        raise _partial(connection, acked, envelopes, cause) from cause


_Publish = tuple[JobEnvelope, bytes, dict[str, str]]
"""A job's first publish: its envelope, the encoded envelope, and the headers it carries."""


def _first_publish(connection: Connection, envelope: JobEnvelope, verdicts: dict[str, DependencyVerdict]) -> _Publish:
    data = envelope.encode()
    headers = {names.HEADER_MSG_ID: envelope.job_id}
    if envelope.depends_on:
        headers[names.HEADER_DEPENDENCIES] = verdicts[envelope.job_id].header()
    check_job_size(connection.nc, envelope.job_id, queue_subject(envelope.queue), data, headers)
    return envelope, data, headers


def _partial(
    connection: Connection, acked: Sequence[JobEnvelope], envelopes: Sequence[JobEnvelope], cause: Exception
) -> PartialEnqueueError:
    done = {envelope.job_id for envelope in acked}
    enqueued = [Job(e.job_id, e.queue, connection.settings) for e in envelopes if e.job_id in done]
    not_enqueued = [e.job_id for e in envelopes if e.job_id not in done]
    return PartialEnqueueError(
        f"{len(enqueued)} of {len(envelopes)} jobs were enqueued; {len(not_enqueued)} were not (or may not "
        f"have been), see .not_enqueued: enqueue those ids again to retry without duplicates ({cause})",
        enqueued,
        not_enqueued,
    )


async def _publish_windows(
    connection: Connection, messages: Sequence[_Publish], acked: list[JobEnvelope]
) -> tuple[JobEnvelope, Exception] | None:
    """Publish pipelined, a window at a time, adding each acknowledged job to ``acked``; the
    first failed publish and its error, if any (its window is awaited whole, later ones not sent)."""
    for start in range(0, len(messages), _PUBLISH_WINDOW):
        window = messages[start : start + _PUBLISH_WINDOW]
        results = await asyncio.gather(
            *(
                publish_acked(connection, queue_subject(envelope.queue), data, headers, _PUBLISH_TIMEOUT)
                for envelope, data, headers in window
            ),
            return_exceptions=True,
        )
        outcomes = [(envelope, result) for (envelope, _, _), result in zip(window, results, strict=True)]
        sent = [envelope for envelope, result in outcomes if not isinstance(result, BaseException)]
        acked.extend(sent)
        if sent:
            await announce_jobs(connection, EventKind.ENQUEUED, sent)
        for envelope, result in outcomes:
            if isinstance(result, Exception):
                return envelope, result
            if isinstance(result, BaseException):
                raise result  # cancelled
    return None


async def submit(settings: Settings, envelopes: Sequence[JobEnvelope]) -> None:
    """Publish jobs, or run them in-process inside a :func:`naq.client.testing.inline_jobs` block."""
    await backend_for(settings).submit(envelopes)


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
        await submit(self.settings, [envelope])
        return Job(envelope.job_id, self.name, self.settings)

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
            await submit(self.settings, envelopes)
        return [Job(envelope.job_id, self.name, self.settings) for envelope in envelopes]

    async def purge(self) -> int:
        """Remove every job waiting on this queue (no other queue is touched); returns how many."""
        connection = await self._connection()
        await ensure_stream(connection, resources.jobs_stream(connection.settings))
        reply = await js_api(connection, f"STREAM.PURGE.{names.JOBS_STREAM}", {"filter": queue_subject(self.name)})
        return int(reply.get("purged", 0))

    # --- delayed and recurring jobs (fired by a running naq-scheduler) -------------------------

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

    async def cancel_scheduled_job(self, job_id: str) -> bool:
        """Delete a schedule or a pending one-off job for good; False if unknown."""
        return await cancel_schedule(self.settings, job_id)

    async def pause_scheduled_job(self, job_id: str) -> bool:
        """Stop a schedule firing until resumed; False if unknown."""
        return await pause_schedule(self.settings, job_id)

    async def resume_scheduled_job(self, job_id: str) -> bool:
        """Let a paused (or failed) schedule fire again; False if unknown."""
        return await resume_schedule(self.settings, job_id)

    async def modify_scheduled_job(self, job_id: str, **changes: Any) -> ScheduleRecord:
        """Change ``cron``, ``cron_tz``, ``interval``, ``repeat`` or ``next_run`` of a schedule.

        ``ConfigurationError`` for any other key, ``JobNotFoundError`` for an unknown id.
        """
        return await modify_schedule(self.settings, job_id, changes)

    async def list_scheduled_jobs(self, status: str | None = None) -> list[ScheduleRecord]:
        """This queue's schedules (in ``status``, when given), soonest first."""
        return await list_schedules(self.settings, status, self.name)
