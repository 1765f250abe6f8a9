"""Where jobs and schedules go: a NATS server, or the in-process runner of test mode.

Every client call that stores, runs or reads a job or a schedule asks :func:`backend_for` once and
talks to what it returns; nothing else in the client knows test mode exists. ``NatsBackend`` is
the real thing; :class:`naq.client.testing.InlineRunner` is the same interface in memory, active
inside an :func:`naq.client.testing.inline_jobs` block. (The idea is httpx's ``transport=``: one
seam, chosen in one place.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from naq.client._cancel import cancel_job
from naq.client._connection import Connection, get_connection
from naq.client._enqueue import publish_jobs
from naq.client._events import publish_event
from naq.client._job_state import read_job_state
from naq.client._results import read_result_record, wait_for_result_record
from naq.client._schedule_store import (
    change_schedule,
    create_schedule,
    delete_schedule,
    read_all_schedules,
    read_schedule,
    template_refusal,
)
from naq.client.testing import active_runner
from naq.protocol import (
    EventKind,
    JobEnvelope,
    JobRejectedError,
    JobStatus,
    ResultRecord,
    ScheduleRecord,
    SerializationError,
    Settings,
)

if TYPE_CHECKING:
    from naq.client._schedule_store import StoredSchedule

__all__ = ["Backend", "NatsBackend", "backend_for"]

ScheduleChange = Callable[[ScheduleRecord], ScheduleRecord | None]
RunMaker = Callable[[ScheduleRecord], JobEnvelope]

_ONE_OFF_DELETE_ATTEMPTS: Final = 20
"""Rounds of read-and-delete of a one-off record run now before leaving it to the scheduler."""


class Backend(Protocol):
    """What the client needs from wherever jobs run."""

    async def submit(self, envelopes: Sequence[JobEnvelope]) -> None:
        """Enqueue (or run) the jobs."""

    async def result_record(self, job_id: str, timeout: float | None) -> ResultRecord:
        """The job's result once it ended; ``TimeoutError`` when it has not within ``timeout``."""

    async def stored_result(self, job_id: str) -> ResultRecord | None:
        """The job's result if it ended, without waiting."""

    async def job_status(self, job_id: str, queue: str) -> JobStatus:
        """Where the job is now."""

    async def cancel(self, job_id: str) -> bool:
        """Cancel the job; False if it already ended or is unknown."""

    async def add_schedule(self, record: ScheduleRecord) -> None:
        """Store a new schedule (a one-off or a recurring one)."""

    async def schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """The schedule's record, if it exists."""

    async def all_schedules(self) -> list[ScheduleRecord]:
        """Every schedule's record."""

    async def change_schedule(self, schedule_id: str, change: ScheduleChange) -> ScheduleRecord | None:
        """Apply ``change`` to the schedule (compare-and-set); its new record, ``None`` if unknown."""

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule for good; True if it existed."""

    async def run_schedule_now(self, schedule_id: str, make_run: RunMaker) -> JobEnvelope | None:
        """Submit the job ``make_run`` builds from the schedule's record, now; ``None`` if there is
        no such schedule. A one-off's record is removed, so it does not run again at its time."""


@dataclass(frozen=True, slots=True)
class NatsBackend:
    """Jobs and schedules on the NATS server of ``settings``."""

    settings: Settings

    async def _connection(self) -> Connection:
        return await get_connection(self.settings)

    async def submit(self, envelopes: Sequence[JobEnvelope]) -> None:
        await publish_jobs(await self._connection(), envelopes)

    async def result_record(self, job_id: str, timeout: float | None) -> ResultRecord:
        return await wait_for_result_record(await self._connection(), job_id, timeout)

    async def stored_result(self, job_id: str) -> ResultRecord | None:
        return await read_result_record(await self._connection(), job_id)

    async def job_status(self, job_id: str, queue: str) -> JobStatus:
        return (await read_job_state(await self._connection(), job_id, queue)).status

    async def cancel(self, job_id: str) -> bool:
        return await cancel_job(await self._connection(), job_id)

    async def add_schedule(self, record: ScheduleRecord) -> None:
        connection = await self._connection()
        await create_schedule(connection, record)
        await publish_event(
            connection, EventKind.SCHEDULED, record.job.queue, record.job.job_id, next_run_at=record.next_run_at
        )

    async def schedule(self, schedule_id: str) -> ScheduleRecord | None:
        stored = await read_schedule(await self._connection(), schedule_id)
        return None if stored is None else stored[0]

    async def all_schedules(self) -> list[ScheduleRecord]:
        return [record for record, _ in await read_all_schedules(await self._connection())]

    async def change_schedule(self, schedule_id: str, change: ScheduleChange) -> ScheduleRecord | None:
        stored: StoredSchedule | None = await change_schedule(await self._connection(), schedule_id, change)
        return None if stored is None else stored[0]

    async def cancel_schedule(self, schedule_id: str) -> bool:
        connection = await self._connection()
        try:
            stored = await read_schedule(connection, schedule_id)
        except SerializationError:
            return await delete_schedule(connection, schedule_id)  # an undecodable record is still deleted
        if stored is None:
            return False
        if stored[0].one_off:
            # A delayed job not yet fired ends as cancelled, exactly as through cancel_job.
            return await cancel_job(connection, schedule_id)
        # At the revision just read; only if it changed meanwhile, read again (a concurrent cancel wins).
        return await delete_schedule(connection, schedule_id, stored[1]) or await delete_schedule(
            connection, schedule_id
        )

    async def run_schedule_now(self, schedule_id: str, make_run: RunMaker) -> JobEnvelope | None:
        connection = await self._connection()
        stored = await read_schedule(connection, schedule_id)
        if stored is None:
            return None
        record, revision = stored
        refusal = template_refusal(self.settings, record)
        if refusal is not None:
            raise JobRejectedError(f"schedule {schedule_id}: {refusal}")
        envelope = make_run(record)
        await publish_jobs(connection, [envelope])
        if record.one_off:
            await _remove_one_off(connection, schedule_id, revision)
        return envelope


async def _remove_one_off(connection: Connection, schedule_id: str, revision: int) -> None:
    """Delete a one-off record whose run was just published, unless a scheduler is firing it."""
    for _ in range(_ONE_OFF_DELETE_ATTEMPTS):
        if await delete_schedule(connection, schedule_id, revision):
            return
        stored = await read_schedule(connection, schedule_id)
        if stored is None or stored[0].pending_run_at is not None:
            return  # gone, or claimed by a scheduler: its publish carries the same message id
        revision = stored[1]  # changed meanwhile (a pause, a new next_run): delete what is there now


_backends: dict[Settings, NatsBackend] = {}


def backend_for(settings: Settings) -> Backend:
    """The test-mode runner inside an ``inline_jobs`` block, else the NATS server of ``settings``."""
    runner = active_runner()
    if runner is not None:
        return runner
    backend = _backends.get(settings)
    if backend is None:
        backend = _backends[settings] = NatsBackend(settings)
    return backend
