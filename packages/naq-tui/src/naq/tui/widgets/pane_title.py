"""A pane's one-line title, rewritten only when its text changes (and then without a layout:
it fills its line whatever it says)."""

from __future__ import annotations

from textual.widgets import Label

__all__ = ["PaneTitle"]


class PaneTitle(Label):
    """The bold first line of a pane. :meth:`show` is cheap to call on every refresh."""

    DEFAULT_CSS = """
    PaneTitle { width: 100%; height: 1; text-style: bold; padding: 0 1; }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, markup=False)
        self._text = text

    @property
    def text(self) -> str:
        """The title shown."""
        return self._text

    def show(self, text: str) -> None:
        """Show ``text`` (a no-op when it is already shown)."""
        if text != self._text:
            self._text = text
            self.update(text, layout=False)
