"""Job functions for the scheduling example."""

from datetime import UTC, datetime


def send_reminder(user: str) -> str:
    """A one-off job, run once at a later time."""
    return f"reminder sent to {user}"


def build_report(name: str) -> str:
    """A one-off job with a fixed run time; reports when it actually ran (UTC)."""
    return f"{name} report built at {datetime.now(UTC):%H:%M:%S} UTC"


def check_feed(feed: str) -> str:
    """A recurring job: a scheduler enqueues one run of it per interval."""
    return f"{feed} feed checked"
