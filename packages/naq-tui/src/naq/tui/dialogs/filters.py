"""Asks for a filter: one text field per property (queue, function, error type, event kind)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["FilterDialog"]


def _input_id(name: str) -> str:
    return "filter-" + name.replace(" ", "-")


class FilterDialog(ModalScreen[dict[str, str] | None]):
    """One input per field, prefilled with the current filter; enter in any of them applies
    (an empty field matches everything), escape leaves the filter as it was (``None``)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: Sequence[str], current: Mapping[str, str]) -> None:
        super().__init__()
        self._title = title
        self._fields = tuple(fields)
        self._current = dict(current)

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-dialog", classes="dialog"):
            yield Label(f"{self._title} (enter applies; empty matches all; escape cancels)", classes="dialog-title")
            for name in self._fields:
                yield Label(name)
                yield Input(self._current.get(name, ""), placeholder=f"any {name}", id=_input_id(name))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        values = {name: self.query_one(f"#{_input_id(name)}", Input).value.strip() for name in self._fields}
        self.dismiss({name: value for name, value in values.items() if value})

    def action_cancel(self) -> None:
        """Close without changing the filter."""
        self.dismiss(None)
