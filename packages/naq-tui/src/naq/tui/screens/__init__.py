"""The monitor's screens: the overview (queues and workers) and the schedules."""

from naq.tui.screens.overview import OverviewScreen
from naq.tui.screens.schedules import SchedulesScreen

__all__ = ["OverviewScreen", "SchedulesScreen"]
