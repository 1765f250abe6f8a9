"""Test mode: run enqueued jobs in-process, with the same serialization checks as a real queue.

For your unit tests, no NATS server needed::

    from naq.client import enqueue
    from naq.client.testing import inline_jobs

    async def test_signup_sends_mail():
        with inline_jobs() as runner:
            job = await enqueue(send_welcome_mail, "ada@example.com")
            assert await job.result() == "sent"
        assert runner.ran == [job.job_id]

Inside the block, every enqueue runs its job at once (sync functions in a thread): the job and its
result go through the same encoding a worker would see, the function is resolved by its reference,
retries follow the job's policy (without waiting out the delays), and ``job.result()``,
``job.status()`` and ``fetch_job_result`` read the in-memory outcome. A failure is recorded as a
worker records it: the same error type (``naq.worker:JobTimeoutError`` past a ``timeout``),
message and attempts.

Dependencies hold as on a real queue: a job whose ``depends_on`` jobs have not all completed in
this block waits (``job.status()`` says waiting) and runs once the last one completes; if one
failed or was cancelled it fails with ``DependencyFailedError`` without running. ``cancel_job``
cancels a waiting job (a job that ran already cannot be cancelled: False). A dependency that never
runs in the block keeps its dependents waiting (there is no ``dependency_timeout`` inline).

The runner is the client's backend for the block: every client call that would reach NATS
(enqueue, results, status, cancel, schedules) goes to it instead, chosen in one place.

Scheduling: ``enqueue_at``/``enqueue_in`` run the job at once (test mode does not wait out the
delay). ``schedule()`` records the schedule in ``runner.schedules`` without running it, and pause,
resume, modify, cancel and ``list_scheduled_jobs`` act on those records, as on a real bucket.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from naq.protocol import (
    ConfigurationError,
    DependencyOutcome,
    ErrorInfo,
    JobEnvelope,
    JobNotFoundError,
    JobStatus,
    JobTimeoutError,
    ResultRecord,
    ScheduleRecord,
    get_serializer,
    resolve_ref,
)
from naq.protocol.context import JobContext, wants_context
from naq.protocol.retry import should_retry

__all__ = ["InlineRunner", "active_runner", "inline_jobs"]

_active: InlineRunner | None = None

_WORKER_ID = "inline"
"""The worker id test mode records in results."""


class InlineRunner:
    """Runs jobs in-process and keeps their results in memory.

    ``state`` is what a worker's ``on_startup`` would have filled, passed to jobs that take a
    context. With ``raise_errors=True`` a job's exception propagates out of ``enqueue`` instead of
    being recorded as a failed result.
    """

    def __init__(self, state: dict[str, Any] | None = None, raise_errors: bool = False) -> None:
        self.state = state if state is not None else {}
        self.raise_errors = raise_errors
        self.results: dict[str, ResultRecord] = {}
        self.ran: list[str] = []
        self.waiting: dict[str, JobEnvelope] = {}
        """Jobs waiting for their dependencies, by id."""
        self.schedules: dict[str, ScheduleRecord] = {}
        """Recurring schedules created in this block, by schedule id (they do not run)."""

    async def add_schedule(self, record: ScheduleRecord) -> None:
        """A one-off job runs now; a recurring schedule is recorded (same checks as a real bucket)."""
        record = ScheduleRecord.decode(record.encode())
        if record.one_off:
            await self.submit([record.job])
            return
        if record.schedule_id in self.schedules:
            raise ConfigurationError(f"a schedule with id {record.schedule_id!r} already exists")
        self.schedules[record.schedule_id] = record

    async def schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """A schedule recorded in this block, if any."""
        return self.schedules.get(schedule_id)

    async def all_schedules(self) -> list[ScheduleRecord]:
        """Every schedule recorded in this block."""
        return list(self.schedules.values())

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """Forget a recorded schedule; True if it was there."""
        return self.schedules.pop(schedule_id, None) is not None

    async def run_schedule_now(
        self, schedule_id: str, make_run: Callable[[ScheduleRecord], JobEnvelope]
    ) -> JobEnvelope | None:
        """Run a recorded schedule's job now (one-off jobs already ran when they were enqueued)."""
        record = self.schedules.get(schedule_id)
        if record is None:
            return None
        envelope = make_run(record)
        await self.submit([envelope])
        return envelope

    async def change_schedule(
        self, schedule_id: str, change: Callable[[ScheduleRecord], ScheduleRecord | None]
    ) -> ScheduleRecord | None:
        """Apply ``change`` to a recorded schedule; ``None`` if there is no such schedule."""
        record = self.schedules.get(schedule_id)
        if record is None:
            return None
        updated = change(record)
        if updated is not None:
            self.schedules[schedule_id] = record = updated
        return record

    async def submit(self, envelopes: Sequence[JobEnvelope]) -> None:
        """Run each job now, in order (a job with unfinished dependencies waits for them)."""
        for envelope in envelopes:
            # The same round trip a real queue imposes: what would not survive it fails here too.
            await self._start(JobEnvelope.decode(envelope.encode()))

    async def _start(self, job: JobEnvelope) -> None:
        outcomes = [self.results.get(d) for d in job.depends_on]
        for dependency, outcome in zip(job.depends_on, outcomes, strict=True):
            if outcome is not None and outcome.status != "completed":
                error = ErrorInfo.dependency_failed(job.job_id, dependency, DependencyOutcome(outcome.status))
                await self._end(job, ResultRecord.failed(job, error, attempts=0, worker_id=_WORKER_ID))
                return
        if any(outcome is None for outcome in outcomes):
            self.waiting[job.job_id] = job
            return
        await self._end(job, await self._run(job))

    async def _end(self, job: JobEnvelope, record: ResultRecord) -> None:
        self.waiting.pop(job.job_id, None)
        self.results[job.job_id] = ResultRecord.decode(record.encode())
        for dependent in [w for w in self.waiting.values() if job.job_id in w.depends_on]:
            await self._start(dependent)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a waiting job; False if it is not waiting (it ran already, or is unknown)."""
        job = self.waiting.get(job_id)
        if job is None:
            return False
        record = ResultRecord.cancelled(job.job_id, job.queue, serializer=job.serializer, worker_id=_WORKER_ID)
        await self._end(job, record)
        return True

    async def _run(self, job: JobEnvelope) -> ResultRecord:
        serializer = get_serializer(job.serializer)
        func, args, kwargs = serializer.load_call(job.payload)
        if func is None:
            func = resolve_ref(job.function)
        attempt = 1
        while True:
            started = time.time()
            call_args = list(args)
            if wants_context(func):
                context = JobContext(
                    job.job_id, job.queue, attempt, job.max_retries, "inline", job.function, self.state
                )
                call_args = [context, *call_args]
            self.ran.append(job.job_id)
            retryable = True
            try:
                value = await _call(func, call_args, kwargs, job.timeout)
                retryable = False  # as in a worker: a value that cannot be stored would come back the same
                stored = serializer.dump_value(value)
            except (Exception, SystemExit, KeyboardInterrupt) as exc:
                # As in a worker: a job cannot stop the process, and such an exit is never retried.
                if retryable and isinstance(exc, Exception) and should_retry(job, exc, attempt):
                    attempt += 1
                    continue
                if self.raise_errors:
                    raise
                return ResultRecord.failed(job, exc, attempts=attempt, started_at=started, worker_id=_WORKER_ID)
            return ResultRecord.completed(job, stored, attempts=attempt, started_at=started, worker_id=_WORKER_ID)

    def record(self, job_id: str) -> ResultRecord | None:
        """The result of ``job_id`` if it ran in this runner."""
        return self.results.get(job_id)

    async def stored_result(self, job_id: str) -> ResultRecord | None:
        """The result of ``job_id`` if it ran in this block (``fetch_job_result``)."""
        return self.results.get(job_id)

    async def result_record(self, job_id: str, timeout: float | None) -> ResultRecord:
        """The result of a job of this block (``job.result()``): it ran at enqueue, so no wait."""
        if job_id in self.waiting:
            raise TimeoutError(f"job {job_id} waits for its dependencies, which have not run in this block")
        return self._ran(job_id)

    async def job_status(self, job_id: str, queue: str) -> JobStatus:
        """Waiting, or the status of the job's result."""
        if job_id in self.waiting:
            return JobStatus.WAITING
        return JobStatus(self._ran(job_id).status)

    def _ran(self, job_id: str) -> ResultRecord:
        record = self.results.get(job_id)
        if record is None:
            raise JobNotFoundError(f"job {job_id!r} did not run in this inline_jobs block")
        return record


async def _call(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], timeout: float | None) -> Any:
    """Call the job's function as a worker does: async in the loop, sync in a thread; past its
    timeout the same ``JobTimeoutError`` a worker records (a sync job's thread runs on)."""
    sync = not inspect.iscoroutinefunction(func)
    try:
        async with asyncio.timeout(timeout) as deadline:
            return await (asyncio.to_thread(func, *args, **kwargs) if sync else func(*args, **kwargs))
    except TimeoutError:
        if deadline.expired():
            raise JobTimeoutError.after(timeout, thread_running=sync) from None
        raise


def active_runner() -> InlineRunner | None:
    """The runner of the enclosing :func:`inline_jobs` block, if any."""
    return _active


@contextmanager
def inline_jobs(state: dict[str, Any] | None = None, raise_errors: bool = False) -> Iterator[InlineRunner]:
    """Within the block, enqueued jobs run in-process (see the module docstring)."""
    # A module global, not a context variable: the sync twins run on naq's own loop thread and
    # must see the block too.
    global _active  # noqa: PLW0603
    previous, _active = _active, InlineRunner(state, raise_errors)
    try:
        yield _active
    finally:
        _active = previous
