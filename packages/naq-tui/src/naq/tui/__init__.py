"""naq.tui: the live Textual monitor of queues, workers, schedules, failed jobs and events."""

from naq.tui._version import __version__

__all__ = ["__version__"]
