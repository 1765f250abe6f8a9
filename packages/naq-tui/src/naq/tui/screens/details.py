"""Screens of one job: a dead-letter record in full, and what ``job_info`` finds about an id."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label

from naq.client import ConfigurationError, FailedEntry, JobNotFoundError
from naq.tui.widgets import DetailText
from naq.tui.widgets.details import failed_text, job_text

if TYPE_CHECKING:
    from naq.tui.app import MonitorApp

__all__ = ["FailedJobScreen", "JobScreen"]

_BACK: list[BindingType] = [Binding("escape", "app.pop_screen", "Back")]


class FailedJobScreen(Screen[None]):
    """One dead-letter record: the job, its arguments, the error and the worker's traceback."""

    BINDINGS: ClassVar[list[BindingType]] = _BACK

    def __init__(self, entry: FailedEntry) -> None:
        super().__init__()
        self.entry = entry
        """The record shown."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="pane"):
            yield Label(f"Failed job {self.entry.id}", classes="pane-title")
            yield DetailText(failed_text(self.entry), id="detail")
        yield Footer()


class JobScreen(Screen[None]):
    """What naq keeps about one job id, read once when the screen opens. An unknown or malformed
    id, or a failed read, is a message on the screen."""

    BINDINGS: ClassVar[list[BindingType]] = _BACK

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        """The id looked up."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="pane"):
            yield Label(f"Job {self.job_id}", classes="pane-title")
            yield DetailText("reading...", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self._read()

    @work(exclusive=True, group="job-lookup")
    async def _read(self) -> None:
        source = cast("MonitorApp", self.app).source
        try:
            text = job_text(await source.job_info(self.job_id))
        except JobNotFoundError:
            text = f"no such job: {self.job_id!r} (never enqueued, or its records have expired)"
        except (ValueError, ConfigurationError) as exc:
            text = f"not a job id: {exc}"
        except Exception as exc:  # shown, never a traceback: the monitor keeps running
            text = f"could not read job {self.job_id!r}: {' '.join(str(exc).split()) or type(exc).__name__}"
        self.query_one(DetailText).update(text)
