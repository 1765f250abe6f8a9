"""naq.worker: runs queued jobs: fetch, execute, retries, results, heartbeats."""

from naq.protocol.context import JobContext
from naq.worker._executor import JobTimeoutError
from naq.worker._processor import WorkerLostError
from naq.worker._version import __version__
from naq.worker._worker import Hook, Worker

__all__ = [
    "__version__",
    # the worker
    "Hook",
    "JobContext",
    "Worker",
    # errors a job's result can carry
    "JobTimeoutError",
    "WorkerLostError",
]
