"""The key bar: one line at the bottom of a screen naming its keys and what they do.

Textual's own Footer builds a widget per key and rebuilds them all whenever its screen comes
back; with the monitor switching screens at a key press, that rebuild was a good part of the
press. This bar is one line of text, written again only when the keys change.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["KeysBar", "keys_text"]


def keys_text(pairs: list[tuple[str, str]]) -> Text:
    """``key description`` pairs as the bar shows them, the keys highlighted."""
    text = Text(" ")
    for key, description in pairs:
        text.append(f" {key} ", style="bold reverse")
        text.append(f" {description}  ")
    text.append(" ^p palette", style="dim")
    return text


class KeysBar(Static):
    """The keys the screen it is on offers now (read-only mode leaves out those that change
    something); brought up to date when that screen is shown."""

    DEFAULT_CSS = """
    KeysBar { dock: bottom; height: 1; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__("")
        self._pairs: list[tuple[str, str]] | None = None

    def on_mount(self) -> None:
        self.show_keys()

    def show_keys(self) -> None:
        """Write the keys of the screen now (a no-op when they are already shown)."""
        keys: dict[tuple[str, str], list[str]] = {}  # one entry per action: "escape,o" is esc/o
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.show and active.enabled:
                shown = binding.key_display or self.app.get_key_display(binding)
                keys.setdefault((binding.action, binding.description), []).append(shown)
        pairs = [("/".join(shown), description) for (_, description), shown in keys.items()]
        if pairs != self._pairs:
            self._pairs = pairs
            self.update(keys_text(pairs), layout=False)
