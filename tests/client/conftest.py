"""Fixtures of the client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.logs import restore_library_logging


@pytest.fixture(autouse=True)
def library_logging() -> Iterator[None]:
    """After each test, naq's logging is a library's again (CLI tests enable it on a captured stream)."""
    yield
    restore_library_logging()
