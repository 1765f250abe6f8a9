"""The monitor's dialogs: modal screens that return what was asked for."""

from naq.tui.dialogs.confirm import ConfirmDialog
from naq.tui.dialogs.filters import FilterDialog
from naq.tui.dialogs.job_id import JobIdDialog

__all__ = ["ConfirmDialog", "FilterDialog", "JobIdDialog"]
