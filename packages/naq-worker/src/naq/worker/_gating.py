"""Dependency gating: whether a delivered job may run, and releasing the jobs parked on one that ended.

A job with ``depends_on`` arrives with a verdict in its ``Naq-Dependencies`` header (set by
whoever published it) or without one (a requeue): then the gate reads its dependencies' states
and parks it if they have not all ended. A parked job takes no worker slot and no ack-pending
capacity: it waits in ``naq_waiting`` until the last of its dependencies ends, and whoever ends
that one publishes it again (:meth:`DependencyGate.release_dependents`). Everything here only
runs for jobs that have dependencies or dependents; the hot path of a job with neither is one
dictionary look-up in the worker's :class:`~naq.worker._watches.WaitingIndex`.
"""

from __future__ import annotations

from typing import Any

from naq.client.runtime import (
    Connection,
    decide,
    delete_waiting,
    dependency_ended,
    dependency_states,
    park,
    parked_on,
    parked_record,
    release,
)
from naq.protocol import DependencyOutcome, DependencyVerdict, JobEnvelope, ResultStatus, Verdict, names
from naq.worker._watches import WaitingIndex

__all__ = ["DependencyGate"]


class DependencyGate:
    """Dependency checks and releases for one worker: reads and writes ``naq_waiting`` through
    ``connection``; ``waiting`` is the worker's watched index of parked dependents."""

    def __init__(self, connection: Connection, waiting: WaitingIndex) -> None:
        self.connection = connection
        self.waiting = waiting

    # --- admitting a job ---------------------------------------------------------------------------

    async def verdict(self, message: Any, envelope: JobEnvelope) -> DependencyVerdict | None:
        """The verdict on a delivered job with dependencies; ``None`` when the gate dealt with the
        message itself and it only needs its ack: the job was parked, or it was a parking's
        ``dependency_timeout`` message (:meth:`deadline_due`). Raises if the state cannot be read
        or written (the caller has the message delivered again)."""
        verdict = DependencyVerdict.parse((message.headers or {}).get(names.HEADER_DEPENDENCIES))
        if verdict is None:  # not decided by whoever published it (e.g. a requeue): look now
            states = await dependency_states(self.connection, envelope.depends_on)
            verdict = decide(envelope, states)
            if verdict is None:
                # Parked with the signature it arrived with: its release carries that, unchanged.
                signature = (message.headers or {}).get(names.HEADER_SIGNATURE)
                await park(self.connection, [envelope], states, {envelope.job_id: signature})
                return None
        if verdict.verdict is Verdict.DEADLINE:
            await self.deadline_due(envelope, verdict.generation)
            return None
        return verdict

    async def deadline_due(self, envelope: JobEnvelope, generation: int) -> None:
        """A parking's ``dependency_timeout`` is due: fail the job if it still waits (or release it late)."""
        connection = self.connection
        records = [await parked_record(connection, d, envelope.job_id) for d in envelope.depends_on]
        waiting = [r for r in records if r is not None and r.generation == generation]
        if not waiting:
            return  # released already, or parked again later
        pending = [d for d, r in zip(envelope.depends_on, records, strict=True) if r in waiting]
        states = await dependency_states(connection, pending)
        for dependency in pending:
            state = states[dependency]
            if state is not None:  # ended, but its release was missed: release now
                await dependency_ended(connection, dependency, waiting[0], state)
        still = [d for d in pending if states[d] is None]
        if still:
            await release(connection, waiting[0], DependencyVerdict.failed(still[0], DependencyOutcome.TIMEOUT))

    async def unpark(self, envelope: JobEnvelope) -> None:
        """Delete what is left of the job's parking (it ends without running)."""
        for dependency in envelope.depends_on:
            await delete_waiting(self.connection, dependency, envelope.job_id)

    # --- releasing what waits on a job that ended ------------------------------------------------

    async def release_dependents(self, job_id: str, state: ResultStatus) -> None:
        """Release what was parked on a job this worker just ended (before its message is acked)."""
        await self.release(job_id, self.waiting.ended(job_id, state), state)

    async def release(self, job_id: str, dependents: list[str], state: ResultStatus) -> None:
        """Tell each of ``dependents`` (parked on ``job_id``) that it ended in ``state``."""
        for dependent in dependents:
            record = await parked_record(self.connection, job_id, dependent)
            if record is not None:
                await dependency_ended(self.connection, job_id, record, state)

    async def release_all(self, job_id: str, state: ResultStatus) -> None:
        """Release every job parked on ``job_id``, read from the stream rather than the watch: for a
        job that ended elsewhere (its worker may have died before releasing them; releases are
        idempotent)."""
        self.waiting.ended(job_id, state)
        for record in await parked_on(self.connection, job_id):
            await dependency_ended(self.connection, job_id, record, state)

    async def release_late_parking(self, dependency: str, dependent: str, state: ResultStatus) -> None:
        """A dependent was parked on a job this worker ended moments ago: release it now."""
        await self.release(dependency, [dependent], state)
