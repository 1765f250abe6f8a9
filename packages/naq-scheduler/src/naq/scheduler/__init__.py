"""naq.scheduler: fires delayed and recurring jobs under leader election."""

from naq.scheduler._version import __version__

__all__ = ["__version__"]
