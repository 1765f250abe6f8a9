"""naq's logging put back as a library's after a test ran a CLI in-process.

A command run through typer's ``CliRunner`` points loguru at the runner's captured stderr and
enables naq's logging; the runner closes that stream afterwards, so a connection of the sync API
that logs later (a disconnect) would write to a closed file.
"""

from __future__ import annotations

import sys

from loguru import logger

__all__ = ["restore_library_logging"]


def restore_library_logging() -> None:
    """One sink on the real stderr, and naq's own logging disabled again."""
    logger.remove()
    logger.add(sys.stderr)
    logger.disable("naq")
