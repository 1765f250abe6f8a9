"""naq.tui: the live Textual monitor of queues, workers, schedules, failed jobs and events.

``make_app(nats_url).run()`` runs it; ``naq-tui`` (also ``naq tui``) is its command.
"""

from naq.tui._version import __version__
from naq.tui.app import make_app

__all__ = ["__version__", "make_app"]
