"""The monitor's widgets: the tables of queues, workers, schedules and failed jobs, the event log,
the status bar, and the plain text of a job's details."""

from naq.tui.widgets.details import DetailText
from naq.tui.widgets.event_log import EventFilter, EventLog
from naq.tui.widgets.status_bar import StatusBar
from naq.tui.widgets.tables import FailedTable, QueuesTable, SchedulesTable, WorkersTable

__all__ = [
    "DetailText",
    "EventFilter",
    "EventLog",
    "FailedTable",
    "QueuesTable",
    "SchedulesTable",
    "StatusBar",
    "WorkersTable",
]
