"""The version shared by all five naq distributions (bumped together, pinned exactly)."""

__version__ = "0.1.0"
