"""How big a NATS message is, counted as the server counts it against its ``max_payload``.

The server counts the payload plus the whole header block (``NATS/1.0\\r\\n``, one ``Key: value\\r\\n``
per header, a closing ``\\r\\n``). nats-py checks the payload alone before sending, and when the
server refuses a message for its size it closes the connection: so naq measures every message it
publishes here, before it goes out, and refuses it itself.

Text that must fit in a record of bounded size (an error's message or traceback) is cut with
:func:`truncate_text`, which measures it as the record's JSON carries it and says what was cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from naq.protocol._codec import dumps

__all__ = [
    "HEADER_BLOCK_OVERHEAD",
    "TRUNCATION_MARK",
    "header_block_size",
    "json_text_size",
    "message_size",
    "truncate_text",
]

HEADER_BLOCK_OVERHEAD: Final = len(b"NATS/1.0\r\n") + len(b"\r\n")
"""Bytes of a header block around its header lines (version line and closing blank line)."""

_LINE_OVERHEAD: Final = len(b": \r\n")


def header_block_size(headers: Mapping[str, str] | None) -> int:
    """Bytes the header block of ``headers`` takes on the wire (0 without headers)."""
    if headers is None:
        return 0
    size = HEADER_BLOCK_OVERHEAD
    for key, value in headers.items():
        if not key.strip():
            continue  # nats-py leaves out empty keys
        size += len(key.strip().encode()) + len(value.strip().encode()) + _LINE_OVERHEAD
    return size


def message_size(data: bytes, headers: Mapping[str, str] | None = None) -> int:
    """Bytes the server counts against ``max_payload`` for ``data`` with ``headers``."""
    return len(data) + header_block_size(headers)


TRUNCATION_MARK: Final = "... [truncated from {size} bytes]"
"""Put where text was cut to fit a message; ``size`` is the whole text's length in UTF-8 bytes."""

_CUT_PASSES: Final = 6
"""Bound of the measuring passes of a cut (see ``_cut``)."""


def json_text_size(text: str) -> int:
    """Bytes ``text`` takes inside a record's JSON: escapes included, the quotes not."""
    return len(dumps(text)) - 2


def truncate_text(text: str, budget: int, *, keep_end: bool = False) -> str:
    """``text`` itself if it takes at most ``budget`` bytes in JSON; else its start (with
    ``keep_end``, its start and its end) around :data:`TRUNCATION_MARK`, within ``budget``.

    Returns ``""`` when not even the mark fits.
    """
    if json_text_size(text) <= budget:
        return text
    mark = TRUNCATION_MARK.format(size=len(text.encode("utf-8", "surrogatepass")))
    if keep_end:
        mark = f"\n{mark}\n"
    room = budget - json_text_size(mark)
    if room < 0:
        return ""
    head, tail = _cut(text, room, keep_end)
    cut = f"{head}{mark}{tail}"
    # Measured apart, the pieces can take fewer bytes than together: a lone surrogate in one
    # turns the whole string to ASCII escapes. Then the mark alone stands for the text.
    return cut if json_text_size(cut) <= budget else mark


def _cut(text: str, room: int, keep_end: bool) -> tuple[str, str]:
    """The start (and end) of ``text`` that together take at most ``room`` bytes in JSON.

    Each pass scales the characters kept by how far the last try was over. Every character takes
    at least one byte, so the last pass, dropping as many more characters as the try before was
    bytes over, always fits.
    """
    keep = min(len(text), room)
    for attempt in range(_CUT_PASSES + 1):
        tail_length = keep // 2 if keep_end else 0
        head = text[: keep - tail_length]
        tail = text[len(text) - tail_length :] if tail_length else ""
        size = json_text_size(head) + json_text_size(tail)
        if size <= room:
            return head, tail
        keep = keep * room // size if attempt < _CUT_PASSES - 1 else max(0, keep - (size - room))
    return "", ""
