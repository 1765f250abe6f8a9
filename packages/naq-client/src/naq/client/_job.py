"""The ``Job`` handle returned by enqueue: its id, and awaitable access to its result and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from naq.client._cancel import cancel_job
from naq.client._connection import get_connection
from naq.client._errors import public
from naq.client._job_state import read_job_state
from naq.client._results import result_value, wait_for_result_record
from naq.client.testing import InlineRunner, active_runner
from naq.protocol import JobNotFoundError, JobStatus, ResultRecord, Settings

__all__ = ["Job"]


@dataclass(frozen=True, slots=True)
class Job:
    """A handle on an enqueued job. Cheap to create from an id alone (``Job(job_id, queue, settings)``)."""

    job_id: str
    queue: str
    settings: Settings = field(repr=False)

    @public
    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the job to end and return its value.

        Raises ``JobExecutionError`` (with the remote error's type, message and traceback) if the
        job failed, and ``TimeoutError`` if it has not ended within ``timeout`` seconds. A job
        enqueued with ``result_ttl=0`` stores no result, so waiting for it times out.
        """
        runner = active_runner()
        if runner is not None:
            if self.job_id in runner.waiting:
                raise TimeoutError(f"job {self.job_id} waits for its dependencies, which have not run in this block")
            return result_value(_inline_record(runner, self.job_id))
        connection = await get_connection(self.settings)
        return result_value(await wait_for_result_record(connection, self.job_id, timeout))

    @public
    async def status(self) -> JobStatus:
        """Where the job is now: scheduled, waiting, queued, running, retrying, completed, failed,
        cancelled, or unknown.

        No per-job write marks a job queued or running, so: a terminal state comes from the result
        record; waiting, retrying and cancelled from ``naq_job_status``; running from the workers'
        heartbeats; scheduled from a pending ``enqueue_at``/``enqueue_in`` record or delayed retry;
        queued if the job is among the first 1,000 messages waiting on its queue
        (``QUEUED_SCAN_LIMIT``, read one by one without a consumer). Anything else is unknown:
        never enqueued, expired, or further back in a longer queue.
        """
        runner = active_runner()
        if runner is not None:
            if self.job_id in runner.waiting:
                return JobStatus.WAITING
            return JobStatus(_inline_record(runner, self.job_id).status)
        connection = await get_connection(self.settings)
        return (await read_job_state(connection, self.job_id, self.queue)).status

    @public
    async def cancel(self) -> bool:
        """Cancel the job (see :func:`naq.client.cancel_job`); False if it already ended or is unknown."""
        runner = active_runner()
        if runner is not None:
            return await runner.cancel(self.job_id)
        return await cancel_job(await get_connection(self.settings), self.job_id)


def _inline_record(runner: InlineRunner, job_id: str) -> ResultRecord:
    record = runner.record(job_id)
    if record is None:
        raise JobNotFoundError(f"job {job_id!r} did not run in this inline_jobs block")
    return record
