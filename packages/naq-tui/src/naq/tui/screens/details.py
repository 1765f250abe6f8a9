"""Screens of one job: a dead-letter record in full, and what ``job_info`` finds about an id."""

from __future__ import annotations

from typing import ClassVar, Final

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from naq.client import ConfigurationError, FailedEntry, JobInfo, JobNotFoundError, JobStatus
from naq.tui.screens.base import NaqScreen, one_line
from naq.tui.widgets import DetailText
from naq.tui.widgets.details import failed_text, job_text
from naq.tui.widgets.keys_bar import KeysBar
from naq.tui.widgets.pane_title import PaneTitle

__all__ = ["CANCELLABLE", "FailedJobScreen", "JobScreen"]

_BACK: list[BindingType] = [Binding("escape", "app.pop_screen", "Back")]

CANCELLABLE: Final = frozenset({JobStatus.QUEUED, JobStatus.WAITING, JobStatus.RUNNING, JobStatus.RETRYING})
"""The statuses of a job that cancelling still stops."""


class FailedJobScreen(NaqScreen):
    """One dead-letter record: the job, its arguments, the error and the worker's traceback."""

    BINDINGS: ClassVar[list[BindingType]] = _BACK

    def __init__(self, entry: FailedEntry) -> None:
        super().__init__()
        self.entry = entry
        """The record shown."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="pane"):
            yield PaneTitle(f"Failed job {self.entry.id}")
            yield DetailText(failed_text(self.entry), id="detail")
        yield KeysBar()


class JobScreen(NaqScreen):
    """What naq keeps about one job id, read when the screen opens (and after a cancel). An
    unknown or malformed id, or a failed read, is a message on the screen. ``c`` cancels a job
    that is queued, waiting, running or retrying."""

    BINDINGS: ClassVar[list[BindingType]] = [*_BACK, Binding("c", "cancel_job", "Cancel job")]
    CHANGES = frozenset({"cancel_job"})

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        """The id looked up."""
        self.info: JobInfo | None = None
        """What the last read found (``None``: nothing, or not read yet)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="pane"):
            yield PaneTitle(f"Job {self.job_id}")
            yield DetailText("reading...", id="detail")
        yield KeysBar()

    def on_mount(self) -> None:
        self._read()

    @work(exclusive=True, group="job-lookup")
    async def _read(self) -> None:
        self.info = None
        try:
            self.info = await self.monitor.source.job_info(self.job_id)
            text = job_text(self.info)
        except JobNotFoundError:
            text = f"no such job: {self.job_id!r} (never enqueued, or its records have expired)"
        except (ValueError, ConfigurationError) as exc:
            text = f"not a job id: {exc}"
        except Exception as exc:  # shown, never a traceback: the monitor keeps running
            text = f"could not read job {self.job_id!r}: {one_line(exc)}"
        self.query_one(DetailText).update(text)

    def action_cancel_job(self) -> None:
        """Cancel the job, after a confirmation, then read it again."""
        if self.info is None or self.info.status not in CANCELLABLE:
            status = "unknown" if self.info is None else str(self.info.status)
            self.notify(f"Job {self.job_id} is {status}: there is nothing to cancel.", severity="warning")
            return
        source = self.monitor.source

        async def cancel() -> str:
            stopped = await source.cancel_job(self.job_id)
            self._read()
            return f"Cancelled {self.job_id}." if stopped else f"{self.job_id} had already ended."

        question = f"Cancel job {self.job_id} ({self.info.status})? It will not run (or will stop)."
        self.confirm_then(question, lambda: self.run_change(f"cancel {self.job_id}", cancel), "Cancel job")
