"""The monitor's widgets: the tables of queues, workers and schedules, and the status bar."""

from naq.tui.widgets.status_bar import StatusBar
from naq.tui.widgets.tables import QueuesTable, SchedulesTable, WorkersTable

__all__ = ["QueuesTable", "SchedulesTable", "StatusBar", "WorkersTable"]
