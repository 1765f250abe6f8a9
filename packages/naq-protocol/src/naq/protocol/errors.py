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
    ├── MessageTooLargeError    (also ValueError)   a message is over the server's max payload
    │   ├── JobTooLargeError                        a job (its arguments) is too large to enqueue
    │   └── ResultTooLargeError                     a job's return value is too large to store
    ├── PartialEnqueueError                         a bulk enqueue failed midway; says what went in
    └── NaqConnectionError      (also ConnectionError)  NATS could not be reached or was lost

A wait that runs out raises the built-in ``TimeoutError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ConfigurationError",
    "DependencyFailedError",
    "JetStreamError",
    "JobCancelledError",
    "JobExecutionError",
    "JobNotFoundError",
    "JobTooLargeError",
    "MessageTooLargeError",
    "NaqConnectionError",
    "NaqError",
    "NaqException",
    "PartialEnqueueError",
    "QueueFullError",
    "ResultTooLargeError",
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


class MessageTooLargeError(NaqError, ValueError):
    """A message is larger than the NATS server accepts (its ``max_payload``).

    ``size`` counts the payload and the header block, as the server does; ``limit`` is the
    server's ``max_payload``. Both in bytes.
    """

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class JobTooLargeError(MessageTooLargeError):
    """A job is larger than the server's max payload (usually its arguments); it was not enqueued.

    Pass large data by reference (a path, a URL, an object store key) instead.
    """


class ResultTooLargeError(MessageTooLargeError):
    """A job's return value is too large to be stored as its result; the job failed for good
    (a retry would return the same value)."""


class PartialEnqueueError(NaqError):
    """A bulk enqueue failed after some of its jobs were enqueued.

    ``enqueued`` holds the handles of the jobs that are on their queue (or parked on their
    dependencies), ``not_enqueued`` the ids of those that may not be; enqueueing those ids again
    (within the 2-minute duplicate window) cannot make a second copy of a job. The error that
    stopped the enqueue is chained as ``__cause__``.
    """

    def __init__(self, message: str, enqueued: Sequence[Any], not_enqueued: Sequence[str]) -> None:
        super().__init__(message)
        self.enqueued = list(enqueued)
        self.not_enqueued = list(not_enqueued)


class NaqConnectionError(NaqError, ConnectionError):
    """The NATS server could not be reached within the connect timeout, or the connection was lost."""


class JetStreamError(NaqError):
    """JetStream refused or failed a request: a stream or bucket missing (deleted under a running
    client), a limit reached, an API error. The nats-py error, when there was one, is chained as
    ``__cause__``; ``err_code`` is JetStream's error code when the server gave one (e.g. 10059:
    stream not found). (Connection trouble is ``NaqConnectionError``.)"""

    def __init__(self, message: str, err_code: int | None = None) -> None:
        super().__init__(message)
        self.err_code = err_code
