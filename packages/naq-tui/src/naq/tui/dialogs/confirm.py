"""Asks before an action that cannot be undone (purge, requeue all, delete, cancel)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

__all__ = ["ConfirmDialog"]


class ConfirmDialog(ModalScreen[bool]):
    """A question naming what will change; dismissed with True (``y``, or the confirm button)
    or False (``n``, escape, or the cancel button)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, confirm: str = "Yes") -> None:
        super().__init__()
        self.question = question
        """What is asked, e.g. "Purge 120 jobs from queue emails?"."""
        self._confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.question, id="question", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self._confirm} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        # The safe answer has the focus: enter alone never confirms.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Close with ``answer``."""
        self.dismiss(answer)
