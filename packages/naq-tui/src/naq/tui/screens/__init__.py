"""The monitor's screens: the overview (queues and workers), the schedules, the failed jobs, and
the details of one job."""

from naq.tui.screens.details import FailedJobScreen, JobScreen
from naq.tui.screens.failed import FailedScreen
from naq.tui.screens.overview import OverviewScreen
from naq.tui.screens.schedules import SchedulesScreen

__all__ = ["FailedJobScreen", "FailedScreen", "JobScreen", "OverviewScreen", "SchedulesScreen"]
