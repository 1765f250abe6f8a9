"""The errors every naq package raises, defined once so callers catch one family.

The hierarchy::

    NaqError (alias NaqException)
    ├── ConfigurationError      (also ValueError)   a bad setting, argument or environment variable
    ├── SerializationError      (also ValueError)   a value or message naq cannot encode or decode
    │   └── PickleNotAllowedError                   a pickled result read without ``allow_pickle``
    ├── JobExecutionError                           the job ran and failed; carries the remote error
    │   ├── DependencyFailedError                   a dependency failed, was cancelled or never ended
    │   └── JobCancelledError                       the job was cancelled
    ├── JobTimeoutError         (also TimeoutError) a job ran longer than its ``timeout``
    ├── WorkerLostError                             a job's worker died running it, too many times
    ├── JobRejectedError                            a worker will not run the job (function, module, pickle)
    ├── JobNotFoundError        (also LookupError)  no such job, or its result expired
    ├── QueueFullError                              the queue stream is at its size limit
    ├── MessageTooLargeError    (also ValueError)   a message is over the server's max payload
    │   ├── JobTooLargeError                        a job (its arguments) is too large to enqueue
    │   └── ResultTooLargeError                     a job's return value is too large to store
    ├── PartialEnqueueError                         a bulk enqueue failed midway; says what went in
    ├── NaqConnectionError      (also ConnectionError)  NATS could not be reached or was lost
    └── JetStreamError                              JetStream refused or failed a request (``err_code``)

A wait that runs out raises the built-in ``TimeoutError``.

Wire names: a result or dead-letter record names its error's class as ``module:Name``, and
``retry_on`` / ``ignore_on`` match those names. Each error here has a public one in its
``WIRE_NAME``, the module a user imports it from: ``naq.worker:`` for the errors only a worker
puts in a result (``JobTimeoutError``, ``WorkerLostError``, ``JobRejectedError``), ``naq.client:``
for every other. All of them are importable from ``naq.protocol`` and ``naq.client`` too, so a
producer without naq-worker can name them. Names these errors were recorded under before
(``FORMER_WIRE_NAMES``, and their defining module here) still match (:mod:`naq.protocol.refs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "ConfigurationError",
    "DependencyFailedError",
    "JetStreamError",
    "JobCancelledError",
    "JobExecutionError",
    "JobNotFoundError",
    "JobRejectedError",
    "JobTimeoutError",
    "JobTooLargeError",
    "MessageTooLargeError",
    "NaqConnectionError",
    "NaqError",
    "NaqException",
    "PartialEnqueueError",
    "PickleNotAllowedError",
    "QueueFullError",
    "ResultTooLargeError",
    "SerializationError",
    "WorkerLostError",
]


class NaqError(Exception):
    """Base class of every error naq raises on purpose."""

    WIRE_NAME: ClassVar[str] = "naq.client:NaqError"
    """The error's public ``module:Name`` in records, ``retry_on`` and ``ignore_on``. Each naq
    error sets its own; a subclass that does not (a user's) is named by its own module and name."""

    FORMER_WIRE_NAMES: ClassVar[tuple[str, ...]] = ()
    """Names it was recorded under by earlier versions (beside its defining module), still matched."""


NaqException = NaqError
"""The original naq's name for :class:`NaqError`, kept so existing ``except`` clauses still work."""


class ConfigurationError(NaqError, ValueError):
    """A setting, argument or ``NAQ_*`` environment variable has a value naq cannot use."""

    WIRE_NAME = "naq.client:ConfigurationError"


class SerializationError(NaqError, ValueError):
    """A value or message could not be encoded or decoded (non-JSON argument, corrupt record)."""

    WIRE_NAME = "naq.client:SerializationError"


class PickleNotAllowedError(SerializationError):
    """A result stored as pickle was read by a caller that did not opt in to unpickling.

    Unpickling runs code chosen by whoever wrote the record, so a result is unpickled only with
    ``allow_pickle=True`` on the read (``Job.result``, ``fetch_job_result``) or ``NAQ_ALLOW_PICKLE``.
    """

    WIRE_NAME = "naq.client:PickleNotAllowedError"


class JobExecutionError(NaqError):
    """A job ran and failed for good; carries the error raised in the worker.

    ``error_type`` is the remote exception as ``module:qualname``, ``error_message`` its message and
    ``traceback`` the formatted traceback from the worker (empty when the worker had none).
    """

    WIRE_NAME = "naq.client:JobExecutionError"

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

    WIRE_NAME = "naq.client:DependencyFailedError"


class JobCancelledError(JobExecutionError):
    """The job was cancelled (``cancel_job``) before or while it ran."""

    WIRE_NAME = "naq.client:JobCancelledError"


class JobTimeoutError(NaqError, TimeoutError):
    """The job ran longer than its ``timeout``; ``thread_running`` if a sync job's thread goes on.

    Retried like any failure (``retry_on="naq.worker:JobTimeoutError"`` picks it out).
    """

    WIRE_NAME = "naq.worker:JobTimeoutError"
    FORMER_WIRE_NAMES = ("naq.worker._executor:JobTimeoutError",)

    def __init__(self, message: str, thread_running: bool = False) -> None:
        super().__init__(message)
        self.thread_running = thread_running

    @classmethod
    def after(cls, timeout: float | None, *, thread_running: bool = False) -> JobTimeoutError:
        """The error of a job stopped at ``timeout`` seconds: an async job is cancelled, a sync
        job's thread (``thread_running``) runs on until its function returns."""
        if thread_running:
            return cls(
                f"job exceeded its timeout of {timeout} s; it was marked failed, but its thread runs on "
                "until the function returns (threads cannot be interrupted)",
                thread_running=True,
            )
        return cls(f"job exceeded its timeout of {timeout} s and was cancelled")


class WorkerLostError(NaqError):
    """The job's worker died while running it, too many times (``NAQ_MAX_CRASH_REDELIVERIES``)."""

    WIRE_NAME = "naq.worker:WorkerLostError"
    FORMER_WIRE_NAMES = ("naq.worker._processor:WorkerLostError",)


class JobRejectedError(NaqError):
    """The worker will not run this job (bad function, module not allowed, pickle not allowed).

    Never retried: no later attempt would change the answer.
    """

    WIRE_NAME = "naq.worker:JobRejectedError"
    FORMER_WIRE_NAMES = ("naq.worker._loader:JobRejectedError",)


class JobNotFoundError(NaqError, LookupError):
    """No job, result or record exists under the given id (never existed, or expired)."""

    WIRE_NAME = "naq.client:JobNotFoundError"


class QueueFullError(NaqError):
    """The job stream reached its size limit (``NAQ_QUEUE_MAX_BYTES``); the job was not enqueued."""

    WIRE_NAME = "naq.client:QueueFullError"


class MessageTooLargeError(NaqError, ValueError):
    """A message is larger than the NATS server accepts (its ``max_payload``).

    ``size`` counts the payload and the header block, as the server does; ``limit`` is the
    server's ``max_payload``. Both in bytes.
    """

    WIRE_NAME = "naq.client:MessageTooLargeError"

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class JobTooLargeError(MessageTooLargeError):
    """A job is larger than the server's max payload (usually its arguments); it was not enqueued.

    Pass large data by reference (a path, a URL, an object store key) instead.
    """

    WIRE_NAME = "naq.client:JobTooLargeError"


class ResultTooLargeError(MessageTooLargeError):
    """A job's return value is too large to be stored as its result; the job failed for good
    (a retry would return the same value)."""

    WIRE_NAME = "naq.client:ResultTooLargeError"


class PartialEnqueueError(NaqError):
    """A bulk enqueue failed after some of its jobs were enqueued.

    ``enqueued`` holds the handles of the jobs that are on their queue (or parked on their
    dependencies), ``not_enqueued`` the ids of those that may not be; enqueueing those ids again
    (within the 2-minute duplicate window) cannot make a second copy of a job. The error that
    stopped the enqueue is chained as ``__cause__``.
    """

    WIRE_NAME = "naq.client:PartialEnqueueError"

    def __init__(self, message: str, enqueued: Sequence[Any], not_enqueued: Sequence[str]) -> None:
        super().__init__(message)
        self.enqueued = list(enqueued)
        self.not_enqueued = list(not_enqueued)


class NaqConnectionError(NaqError, ConnectionError):
    """The NATS server could not be reached within the connect timeout, or the connection was lost."""

    WIRE_NAME = "naq.client:NaqConnectionError"


class JetStreamError(NaqError):
    """JetStream refused or failed a request: a stream or bucket missing (deleted under a running
    client), a limit reached, an API error. The nats-py error, when there was one, is chained as
    ``__cause__``; ``err_code`` is JetStream's error code when the server gave one (e.g. 10059:
    stream not found). (Connection trouble is ``NaqConnectionError``.)"""

    WIRE_NAME = "naq.client:JetStreamError"

    def __init__(self, message: str, err_code: int | None = None) -> None:
        super().__init__(message)
        self.err_code = err_code
