"""Asks for a job id: the monitor's job lookup (``/``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["JobIdDialog"]


class JobIdDialog(ModalScreen[str | None]):
    """A one-line input; dismissed with the id typed (stripped), or ``None`` (escape, or nothing typed)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="job-id-dialog"):
            yield Label("Look up a job: its id, then enter (escape cancels)")
            yield Input(placeholder="job id", id="job-id")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        """Close without looking anything up."""
        self.dismiss(None)
