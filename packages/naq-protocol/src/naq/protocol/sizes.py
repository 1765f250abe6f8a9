"""How big a NATS message is, counted as the server counts it against its ``max_payload``.

The server counts the payload plus the whole header block (``NATS/1.0\\r\\n``, one ``Key: value\\r\\n``
per header, a closing ``\\r\\n``). nats-py checks the payload alone before sending, and when the
server refuses a message for its size it closes the connection: so naq measures every message it
publishes here, before it goes out, and refuses it itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["HEADER_BLOCK_OVERHEAD", "header_block_size", "message_size"]

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
