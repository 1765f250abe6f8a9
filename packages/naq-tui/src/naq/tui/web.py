"""``naq-tui --web`` and ``naq dashboard``: the monitor in a browser, served by textual-serve.

textual-serve (the ``web`` extra: ``pip install "naq-tui[web]"``) answers HTTP with a page that
opens a websocket; for each websocket it starts the monitor as a process of its own, through a
shell command, and relays that process's screen. :func:`monitor_command` builds that command:
this Python's ``-m naq.tui``, read-only unless actions were allowed.

textual-serve has no authentication: whoever reaches the port sees the monitor, and with
``--allow-actions`` can pause schedules, requeue and delete failed jobs. Hence the defaults: the
loopback address and read-only.
"""

from __future__ import annotations

import shlex
import sys
from typing import Final

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "WEB_EXTRA", "WebError", "monitor_command", "serve"]

DEFAULT_HOST: Final = "127.0.0.1"
"""Where the page is served unless ``--host`` says otherwise: this machine only."""
DEFAULT_PORT: Final = 8000
"""The page's port unless ``--port`` says otherwise."""
WEB_EXTRA: Final = 'pip install "naq-tui[web]"'
"""What installs the web mode."""

# Shown in the browser tab and on the page's header.
_TITLE: Final = "naq monitor"


class WebError(RuntimeError):
    """The page cannot be served: textual-serve (the ``web`` extra) is missing, or the address
    cannot be listened on. The message says which, in one line."""


def monitor_command(nats_url: str | None, *, allow_actions: bool) -> str:
    """The shell command textual-serve runs for each browser connection.

    ``sys.executable -m naq.tui``: the same Python and installation as the server, whatever is on
    PATH. ``--nats-url`` only when one was given: otherwise the monitor reads ``NAQ_NATS_URL``
    (and the other settings) from the environment it inherits, which keeps credentials in a URL
    out of the process list. ``--read-only`` unless ``allow_actions``.
    """
    argv = [sys.executable, "-m", "naq.tui"]
    if nats_url is not None:
        argv += ["--nats-url", nats_url]
    if not allow_actions:
        argv.append("--read-only")
    return shlex.join(argv)


def serve(command: str, *, host: str, port: int, public_url: str | None = None) -> None:
    """Serve ``command`` (see :func:`monitor_command`) on ``host:port`` until SIGINT or SIGTERM.

    ``public_url`` is the address the page tells the browser to open its websocket on (textual-
    serve's default: ``http://HOST:PORT``, wrong when the server binds 0.0.0.0 or sits behind a
    published port or a proxy). Raises :class:`WebError` without textual-serve or when the
    address is taken or not this machine's.
    """
    try:
        from textual_serve.server import Server  # noqa: PLC0415 - the optional `web` extra
    except ImportError as exc:
        raise WebError(f"the web mode needs textual-serve: {WEB_EXTRA}") from exc
    try:
        Server(command, host=host, port=port, title=_TITLE, public_url=public_url).serve()
    except OSError as exc:  # aiohttp's bind: the port is taken, or the host is not an address here
        raise WebError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
