"""The ``Job`` handle returned by enqueue: its id, and awaitable access to its result and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from naq.client._backend import backend_for
from naq.client._errors import public
from naq.client._results import result_value
from naq.protocol import JobStatus, Settings

__all__ = ["Job"]


@dataclass(frozen=True, slots=True)
class Job:
    """A handle on an enqueued job. Cheap to create from an id alone (``Job(job_id, queue, settings)``)."""

    job_id: str
    queue: str
    settings: Settings = field(repr=False)

    @public
    async def result(self, timeout: float | None = None, *, allow_pickle: bool | None = None) -> Any:
        """Wait for the job to end and return its value.

        Raises ``JobExecutionError`` (with the remote error's type, message and traceback) if the
        job failed, and ``TimeoutError`` if it has not ended within ``timeout`` seconds. A job
        enqueued with ``result_ttl=0`` stores no result, so waiting for it times out.

        A value stored as pickle (a pickle job's) is unpickled only if ``allow_pickle`` (default:
        the settings' ``NAQ_ALLOW_PICKLE``); otherwise ``PickleNotAllowedError``.
        """
        record = await backend_for(self.settings).result_record(self.job_id, timeout)
        return result_value(record, self.settings.allow_pickle if allow_pickle is None else allow_pickle)

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
        return await backend_for(self.settings).job_status(self.job_id, self.queue)

    @public
    async def cancel(self) -> bool:
        """Cancel the job (see :func:`naq.client.cancel_job`); False if it already ended or is unknown."""
        return await backend_for(self.settings).cancel(self.job_id)
