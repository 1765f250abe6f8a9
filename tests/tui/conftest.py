"""Fixtures of the monitor's tests: the test server's naq connections closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import naq.client


@pytest.fixture
async def client_url(nats_url: str) -> AsyncIterator[str]:
    """The clean session server's URL; the test loop's naq connections are closed after the test."""
    yield nats_url
    await naq.client.close()
