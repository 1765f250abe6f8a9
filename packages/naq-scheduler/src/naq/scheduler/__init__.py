"""naq.scheduler: fires delayed and recurring jobs under leader election."""

from loguru import logger

from naq.scheduler._scheduler import Scheduler
from naq.scheduler._version import __version__

# A library logs nothing unless the application asks: `logger.enable("naq")`. The CLI does.
logger.disable("naq")

__all__ = ["Scheduler", "__version__"]
