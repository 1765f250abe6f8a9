"""naq.worker: runs queued jobs: fetch, execute, retries, dependencies, results, heartbeats."""

from naq.worker._version import __version__

__all__ = ["__version__"]
