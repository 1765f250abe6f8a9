"""The status bar: which server, whether it answers, and when the figures were read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from textual.widgets import Static

__all__ = ["LOGIN_HINT", "PERMISSION_HINT", "RECONNECT_GRACE", "UNREACHABLE_HINT", "ConnectionState", "StatusBar"]

UNREACHABLE_HINT: Final = (
    "is nats-server running there? `naq server` starts one; --nats-url or NAQ_NATS_URL picks another"
)
"""Shown beside an unreachable server's error: the two usual causes and their fixes."""

PERMISSION_HINT: Final = (
    "the server refused this user: it needs to read the naq streams and buckets (see docs: security)"
)
"""Shown beside a permission refusal."""

LOGIN_HINT: Final = (
    "the server refused the login or the TLS handshake: check the NAQ_NATS_* credentials and TLS "
    "files this monitor was started with (see docs: security)"
)
"""Shown beside a refused login or a failed TLS handshake: there is a server, it said no."""

RECONNECT_GRACE: Final = 15.0
"""Seconds after the last good read during which a failing server shows as reconnecting, not lost."""


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """The monitor's view of its server: reached at ``updated_at``, or failing with ``error``."""

    url: str
    connected: bool = False
    error: str | None = None
    """Why the last read failed (a one-line message, never a traceback)."""
    updated_at: float | None = None
    """When the figures shown were read (Unix seconds); ``None`` before the first read."""
    checked_at: float | None = None
    """When the failing read was tried."""

    @property
    def label(self) -> str:
        """``connected``, ``connecting``, ``reconnecting`` (failing since a recent good read)
        or ``lost``."""
        if self.error is None:
            return "connected" if self.connected else "connecting"
        if self.updated_at is not None and (self.checked_at or 0.0) - self.updated_at <= RECONNECT_GRACE:
            return "reconnecting"
        return "lost"


_LOGIN_TROUBLE: Final = (
    "authorization failed", "tls verification", "tls refused", "tls failed", "tls files", "nats_tls", "nkey",
    "nats_creds",
)  # fmt: skip
"""Words of naq's connection errors that mean the login or the TLS set-up (naq.client's connection)."""


def _hint(error: str) -> str:
    lowered = error.lower()
    if "permission" in lowered:
        return PERMISSION_HINT
    if any(words in lowered for words in _LOGIN_TROUBLE):
        return LOGIN_HINT
    return UNREACHABLE_HINT


def _clock(at: float | None) -> str:
    return "never" if at is None else datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S UTC")


class StatusBar(Static):
    """One line at the bottom of every screen; shows a :class:`ConnectionState`."""

    DEFAULT_CSS = """
    StatusBar { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    StatusBar.-unreachable { background: $error 40%; }
    """

    def __init__(self) -> None:
        super().__init__(markup=False)
        self._text = ""

    def show(self, state: ConnectionState, read_only: bool = False) -> None:
        """Show ``state``, and whether the monitor is read-only."""
        shown = state.label
        if state.error is not None:
            hint = _hint(state.error)
            shown = f"{shown}: {state.error} ({hint})"
        self.set_class(state.error is not None, "-unreachable")
        mode = " | read-only" if read_only else ""
        text = f"{state.url} | {shown} | updated {_clock(state.updated_at)}{mode}"
        # Mostly only the clock changes, once a second: a layout of the screen is needed only
        # when the bar needs another number of lines.
        layout = self._lines(text) != self._lines(self._text)
        self._text = text
        self.update(text, layout=layout)

    def _lines(self, text: str) -> int:
        width = max(1, self.content_region.width)
        return max(1, -(-len(text) // width))
