"""``Worker``: fetches jobs from its queues and runs them within one concurrency bound.

One pull consumer per queue, shared with every other worker of that queue; fetches are sized by
free slots; async jobs run as tasks and sync jobs in a thread pool of ``concurrency`` threads, so
nothing blocks the event loop. Jobs running longer than a third of the ack wait send in-progress
acks. SIGTERM/SIGINT stop fetching, let running jobs finish within ``grace`` seconds, hand back
what is left and deregister; a second signal stops at once.

The Worker holds the settings, the hooks, the counters and the in-memory views, and wires its
pieces: the fetch loops (:mod:`naq.worker._fetching`), the running job tasks with their watcher and
drain (:mod:`naq.worker._running`), one delivery's handling (:mod:`naq.worker._processor`), the
dependency gate (:mod:`naq.worker._gating`), how jobs end (:mod:`naq.worker._outcomes`) and the
registry heartbeat (:mod:`naq.worker._heartbeat`). Each piece that reads the worker types it as a
small Protocol of what it reads (``ProcessorHost``, ``OutcomeHost``, ``HeartbeatHost``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from loguru import logger

from naq.client.runtime import (
    Connection,
    KeyWatch,
    ensure_bucket,
    ensure_queue_consumer,
    ensure_stream,
    get_connection,
    publish_system_event,
    resolve_settings,
    stop_signals,
    stop_tasks,
)
from naq.protocol import (
    ConfigurationError,
    ControlCommand,
    ResultStatus,
    Settings,
    SystemEventKind,
    WorkerStatus,
    names,
    resources,
    validate_queue_name,
    validate_worker_id,
)
from naq.protocol.ids import process_id
from naq.protocol.subjects import control_filter
from naq.worker._allowlist import allowed_prefixes
from naq.worker._backoff import StorageBackoff
from naq.worker._completions import CompletionEvents
from naq.worker._executor import run_call
from naq.worker._fetching import Fetcher
from naq.worker._gating import DependencyGate
from naq.worker._heartbeat import Heartbeat
from naq.worker._outcomes import Outcomes
from naq.worker._processor import JobProcessor
from naq.worker._running import RunningJobs
from naq.worker._slots import Slots
from naq.worker._store import JobStore
from naq.worker._threads import JobThreads
from naq.worker._watches import CancelledJobs, WaitingIndex

__all__ = ["Hook", "Worker"]

_NO_ALLOWED_MODULES = (
    "this worker has no allowed modules, so it would run any function anyone who can publish to its "
    "queues sends it: name the modules your job functions live in with --allow-module tasks "
    "(repeatable), NAQ_ALLOWED_MODULES=tasks,myapp.jobs or Worker(allowed_modules=['tasks']); to run "
    "any module (not recommended) start it with --allow-any-module, NAQ_ALLOW_ANY_MODULE=true or "
    "Worker(allow_any_module=True)"
)
"""Why a worker without allowed modules refuses to start, and how to set them."""

Hook = Callable[..., Any]
"""A hook: a sync or async callable (``on_startup(state)``, ``before_job(ctx)``, ``after_job(ctx, error)``,
``on_shutdown(state)``)."""


def _hooks(value: Hook | Iterable[Hook] | None) -> list[Hook]:
    if value is None:
        return []
    return [value] if callable(value) else list(value)


class Worker:
    """Runs jobs from ``queues`` (default: ``NAQ_DEFAULT_QUEUE``), at most ``concurrency`` at once.

    Hooks (sync or async, one callable or a list): ``on_startup(state)`` and ``on_shutdown(state)``
    get the worker's ``state`` dict (open a DB pool once, store it there); ``before_job(ctx)`` and
    ``after_job(ctx, error)`` get the :class:`~naq.worker.JobContext` (``error`` is ``None`` on
    success). A job function whose first parameter is named ``ctx`` (or annotated ``JobContext``)
    receives the context, whose ``state`` is the same dict.

    ``burst=True`` stops once every queue is empty and nothing runs. ``allow_pickle`` defaults to
    ``NAQ_ALLOW_PICKLE``.

    ``allowed_modules`` (default ``NAQ_ALLOWED_MODULES``) are the module prefixes job functions may
    come from; a worker without them refuses to start (``ConfigurationError``) unless
    ``allow_any_module=True`` (default ``NAQ_ALLOW_ANY_MODULE``), which runs any module and logs a
    warning at start. Given both, the allowed modules win. Modules that run code or commands
    (``os``, ``subprocess``, ``builtins``, ...: ``naq.worker.DENIED_MODULES``) run only when a
    prefix names them explicitly.
    """

    def __init__(
        self,
        queues: str | Sequence[str] | None = None,
        concurrency: int = 10,
        name: str | None = None,
        *,
        nats_url: str | Sequence[str] | None = None,
        settings: Settings | None = None,
        on_startup: Hook | Iterable[Hook] | None = None,
        on_shutdown: Hook | Iterable[Hook] | None = None,
        before_job: Hook | Iterable[Hook] | None = None,
        after_job: Hook | Iterable[Hook] | None = None,
        burst: bool = False,
        grace: float = 30.0,
        allow_pickle: bool | None = None,
        allowed_modules: str | Sequence[str] | None = None,
        allow_any_module: bool | None = None,
    ) -> None:
        self.settings = resolve_settings(nats_url, settings)
        if queues is None:
            queues = [self.settings.default_queue]
        elif isinstance(queues, str):
            queues = [queues]
        self.queues = list(dict.fromkeys(validate_queue_name(q) for q in queues))
        if not self.queues:
            raise ConfigurationError("a worker needs at least one queue")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not math.isfinite(grace) or grace < 0:
            raise ConfigurationError(f"grace must be a number of seconds >= 0, got {grace!r}")
        self.concurrency = concurrency
        self.worker_id = validate_worker_id(name) if name is not None else process_id()
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.burst = burst
        self.grace = grace
        self.allow_pickle = self.settings.allow_pickle if allow_pickle is None else allow_pickle
        modules = self.settings.allowed_modules if allowed_modules is None else allowed_modules
        any_module = self.settings.allow_any_module if allow_any_module is None else allow_any_module
        self.allowed_modules = allowed_prefixes(modules)
        """The allowed module prefixes; ``None``: any module (``allow_any_module``)."""
        self.allow_any_module = any_module and self.allowed_modules is None
        if self.allowed_modules is None and not any_module:
            raise ConfigurationError(_NO_ALLOWED_MODULES)
        self._any_module_ignored = any_module and self.allowed_modules is not None
        self.hooks = {
            "on_startup": _hooks(on_startup),
            "on_shutdown": _hooks(on_shutdown),
            "before_job": _hooks(before_job),
            "after_job": _hooks(after_job),
        }
        self.state: dict[str, Any] = {}
        self.processed = 0
        self.failed = 0
        self.processed_by_queue: dict[str, int] = {}
        self.failed_by_queue: dict[str, int] = {}
        self.started_at = 0.0
        self.connection: Connection
        self.completions: CompletionEvents
        self.registry: Any = None
        self.slots = Slots(concurrency)
        self._running = RunningJobs(self.slots, self.running_changed)
        # Created in run(), on the loop the worker runs on.
        self._stopping: asyncio.Event | None = None
        self.storage_backoff = StorageBackoff()
        """How long fetching pauses while job outcomes cannot be stored (a full results bucket or DLQ)."""
        self._stop_now: asyncio.Event | None = None
        self._threads: JobThreads | None = None
        self._subscriptions: dict[str, Any] = {}
        self.waiting = WaitingIndex(self._on_late_parking)
        self.cancelled = CancelledJobs()
        self._watches: list[KeyWatch] = []
        self._control: Any = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"Worker({self.queues!r}, concurrency={self.concurrency}, name={self.worker_id!r})"

    # --- running ---------------------------------------------------------------------------------

    def running_job_ids(self) -> list[str]:
        """Ids of the jobs running now."""
        return self._running.job_ids()

    def counted(self, queue: str, *, failed: bool) -> None:
        """Count one job of ``queue`` that completed, or that failed for good when ``failed``."""
        if failed:
            self.failed += 1
            self.failed_by_queue[queue] = self.failed_by_queue.get(queue, 0) + 1
        else:
            self.processed += 1
            self.processed_by_queue[queue] = self.processed_by_queue.get(queue, 0) + 1

    def running_changed(self) -> None:
        """A job joined or left :meth:`running_job_ids`: the registry hears of it within a second,
        through one heartbeat for however many changes (no write per job)."""
        self._heartbeat.changed()

    async def call_hooks(self, name: str, *args: Any) -> None:
        """Run the ``name`` hooks; a failing job hook is logged and does not stop the job's handling."""
        for hook in self.hooks[name]:
            try:
                result = hook(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if name == "on_startup":
                    raise
                logger.exception("{} hook {!r} failed: {}", name, hook, exc)

    def request_stop(self) -> None:
        """Stop gracefully; a second call stops at once (what SIGTERM/SIGINT do)."""
        if self._stopping is None or self._stop_now is None:
            return
        if self._stopping.is_set():
            logger.warning("second stop request: stopping at once")
            self._stop_now.set()
        else:
            logger.info("stopping: no new jobs; waiting up to {} s for running jobs", self.grace)
            self._stopping.set()

    async def run(self, install_signal_handlers: bool = True) -> None:
        """Serve until stopped (signal, :meth:`request_stop`, or burst mode running dry)."""
        stopping = self._stopping = asyncio.Event()
        stop_now = self._stop_now = asyncio.Event()
        try:
            with stop_signals(self.request_stop, install_signal_handlers):
                await self._start()
                fetchers = [
                    asyncio.create_task(self._fetcher(queue).run(), name=f"naq-fetch-{queue}") for queue in self.queues
                ]
                watch = self._running.watch(self.connection, self.worker_id, self.settings.ack_wait)
                ticker = asyncio.create_task(watch, name="naq-watch-running")
                try:
                    await stopping.wait()
                finally:
                    await asyncio.gather(*fetchers, return_exceptions=True)
                    await stop_tasks([ticker])
                    await self._running.drain(self.grace, stop_now)
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        self.started_at = time.time()
        self.connection = await get_connection(self.settings)
        connection = self.connection
        for spec in resources.all_streams(self.settings):
            await ensure_stream(connection, spec)
        self.registry = await ensure_bucket(connection, resources.workers_bucket(self.settings))
        for bucket in (resources.results_bucket(self.settings), resources.job_status_bucket(self.settings)):
            await ensure_bucket(connection, bucket)
        await self._start_watches()
        for queue in self.queues:
            spec = await ensure_queue_consumer(connection, queue)
            self._subscriptions[queue] = await connection.js.pull_subscribe_bind(
                spec.durable_name, stream=names.JOBS_STREAM
            )
        self._threads = JobThreads(self.concurrency)
        store = JobStore(connection)
        self._gate = DependencyGate(connection, self.waiting)
        # The executor bound to this worker's threads and slots (a partial: no extra call per job).
        run = functools.partial(run_call, threads=self._threads, on_thread_done=self.slots.release)
        outcomes = Outcomes(self, store, self._gate, self.storage_backoff)
        processor = JobProcessor(self, store, self._gate, outcomes, run)
        self._running.bind(processor.process)
        self.completions = CompletionEvents(connection, self.worker_id)
        if self.allow_any_module:
            logger.warning(
                "allow_any_module is on: this worker runs any importable function it is sent (all but the "
                "modules that run code or commands), for anyone who can publish to its queues"
            )
        elif self._any_module_ignored:
            logger.warning(
                "allow_any_module is ignored: the allowed modules ({}) are set and win",
                ", ".join(self.allowed_modules or ()),
            )
        if self.settings.keys is not None:  # NAQ_SIGNING_KEY: unsigned or tampered jobs go to the DLQ
            logger.info("signed jobs only: accepting key id(s) {}", ", ".join(self.settings.keys.key_ids))
        await self.call_hooks("on_startup", self.state)
        self._heartbeat = Heartbeat(self)
        await self._heartbeat.beat(WorkerStatus.STARTING)
        self._heartbeat.start()
        await publish_system_event(connection, SystemEventKind.WORKER_STARTED, self.worker_id, queues=self.queues)
        logger.info(
            "worker {} serving {} with concurrency {}", self.worker_id, ", ".join(self.queues), self.concurrency
        )

    async def _start_watches(self) -> None:
        """Fill the in-memory views (parked dependents, cancelled jobs) before the first fetch."""
        connection = self.connection
        waiting = await ensure_bucket(connection, resources.waiting_bucket(self.settings))
        statuses = await ensure_bucket(connection, resources.job_status_bucket(self.settings))
        self._watches = [
            KeyWatch(waiting, self.waiting.on_entry, meta_only=True),
            KeyWatch(statuses, self.cancelled.on_entry, meta_only=False),
        ]
        for watch in self._watches:
            await watch.start()
        self._control = await connection.nc.subscribe(control_filter(ControlCommand.CANCEL), cb=self._on_cancel)

    async def _on_cancel(self, message: Any) -> None:
        job_id = message.subject.rsplit(".", 1)[-1]
        self.cancelled.add(job_id)
        if self.cancel_running(job_id) and message.reply:
            await self.connection.nc.publish(message.reply, self.worker_id.encode())

    def cancel_running(self, job_id: str) -> bool:
        """Cancel ``job_id`` if this worker runs it: an async job is interrupted, a sync job is told
        through ``ctx.cancelled``; its outcome is recorded as cancelled. False if it is not here."""
        return self._running.cancel(job_id)

    def _on_late_parking(self, dependency: str, dependent: str, state: ResultStatus) -> None:
        task = asyncio.create_task(self._gate.release_late_parking(dependency, dependent, state))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_task_done)

    def _side_task_done(self, task: asyncio.Task[None]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("releasing a dependent failed: {}", task.exception())

    def _fetcher(self, queue: str) -> Fetcher:
        assert self._stopping is not None
        drained = self._all_drained if self.burst else None
        subscription = self._subscriptions[queue]
        running = self._running
        stopping, backoff = self._stopping, self.storage_backoff
        return Fetcher(queue, subscription, self.slots, stopping, running.handle, running.tasks, drained, backoff)

    async def _all_drained(self) -> bool:
        if self._running.tasks:
            return False
        for queue in self.queues:
            spec = resources.queue_consumer(queue, self.settings)
            info = await self.connection.js.consumer_info(names.JOBS_STREAM, spec.durable_name)
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    async def _stop_watches(self) -> None:
        if self._control is not None:
            await self._control.unsubscribe()
            self._control = None
        for watch in self._watches:
            await watch.stop()
        self._watches = []
        await stop_tasks(list(self._side_tasks))

    async def _shutdown(self) -> None:
        await self._stop_watches()
        if not hasattr(self, "_heartbeat"):
            return
        await self.call_hooks("on_shutdown", self.state)
        await self.completions.close()
        await self._heartbeat.stop()
        await publish_system_event(self.connection, SystemEventKind.WORKER_STOPPED, self.worker_id)
        await self.connection.nc.flush()
        if self._threads is not None:
            self._threads.shutdown()
        logger.info("worker {} stopped: {} processed, {} failed", self.worker_id, self.processed, self.failed)
