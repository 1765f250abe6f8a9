"""The monitor's dialogs: modal screens that return what was asked for."""

from naq.tui.dialogs.job_id import JobIdDialog

__all__ = ["JobIdDialog"]
