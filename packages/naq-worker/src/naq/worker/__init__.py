"""naq.worker: runs queued jobs: fetch, execute, retries, results, heartbeats."""

from naq.protocol.context import JobContext
from naq.protocol.errors import JobRejectedError, JobTimeoutError, WorkerLostError
from naq.worker._allowlist import DENIED_MODULES
from naq.worker._version import __version__
from naq.worker._worker import Hook, Worker

__all__ = [
    "__version__",
    # the worker
    "DENIED_MODULES",
    "Hook",
    "JobContext",
    "Worker",
    # errors only a worker puts in a result (their wire names are naq.worker:<Name>)
    "JobRejectedError",
    "JobTimeoutError",
    "WorkerLostError",
]
