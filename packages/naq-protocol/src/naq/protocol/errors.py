"""The errors every naq package raises, defined once so callers catch one family.

The hierarchy::

    NaqError (alias NaqException)
    ├── ConfigurationError      (also ValueError)   a bad setting, argument or environment variable
    ├── SerializationError      (also ValueError)   a value or message naq cannot encode or decode
    ├── JobExecutionError                           the job ran and failed; carries the remote error
    │   ├── DependencyFailedError                   a dependency failed, was cancelled or never ended
    │   └── JobCancelledError                       the job was cancelled
    ├── JobNotFoundError        (also LookupError)  no such job, or its result expired
    ├── QueueFullError                              the queue stream is at its size limit
    └── NaqConnectionError      (also ConnectionError)  NATS could not be reached or was lost

A wait that runs out raises the built-in ``TimeoutError``.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DependencyFailedError",
    "JobCancelledError",
    "JobExecutionError",
    "JobNotFoundError",
    "NaqConnectionError",
    "NaqError",
    "NaqException",
    "QueueFullError",
    "SerializationError",
]


class NaqError(Exception):
    """Base class of every error naq raises on purpose."""


NaqException = NaqError
"""The original naq's name for :class:`NaqError`, kept so existing ``except`` clauses still work."""


class ConfigurationError(NaqError, ValueError):
    """A setting, argument or ``NAQ_*`` environment variable has a value naq cannot use."""


class SerializationError(NaqError, ValueError):
    """A value or message could not be encoded or decoded (non-JSON argument, corrupt record)."""


class JobExecutionError(NaqError):
    """A job ran and failed for good; carries the error raised in the worker.

    ``error_type`` is the remote exception as ``module:qualname``, ``error_message`` its message and
    ``traceback`` the formatted traceback from the worker (empty when the worker had none).
    """

    def __init__(
        self,
        job_id: str,
        error_type: str,
        error_message: str,
        traceback: str = "",
    ) -> None:
        self.job_id = job_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        super().__init__(f"job {job_id} failed: {error_type}: {error_message}")


class DependencyFailedError(JobExecutionError):
    """The job never ran: one of its dependencies failed for good, was cancelled, or did not end
    within the job's ``dependency_timeout``; the message names that dependency."""


class JobCancelledError(JobExecutionError):
    """The job was cancelled (``cancel_job``) before or while it ran."""


class JobNotFoundError(NaqError, LookupError):
    """No job, result or record exists under the given id (never existed, or expired)."""


class QueueFullError(NaqError):
    """The job stream reached its size limit (``NAQ_QUEUE_MAX_BYTES``); the job was not enqueued."""


class NaqConnectionError(NaqError, ConnectionError):
    """The NATS server could not be reached within the connect timeout, or the connection was lost."""
