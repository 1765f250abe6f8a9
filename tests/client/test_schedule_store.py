"""How a schedule record is deleted: a purge marker that expires, so deleted one-offs never pile up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import nats.js.errors
import pytest

import naq.client
from naq.client import Queue, Settings


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue; naq's connections closed after."""
    yield Queue(settings=test_settings)
    await naq.client.close()


async def test_a_cancelled_schedule_leaves_one_expiring_purge_marker(queue: Queue, js: Any) -> None:
    handle = await queue.schedule("harness.jobs:add", 1, 2, interval=60)
    await handle.modify(interval=30)  # a second revision, so the purge has history to roll up
    assert await handle.cancel()
    message = await js.get_last_msg("KV_naq_scheduled_jobs", f"$KV.naq_scheduled_jobs.{handle.schedule_id}")
    assert message.headers["KV-Operation"] == "PURGE"
    assert message.headers["Nats-TTL"] == "3600"
    info = await js.stream_info("KV_naq_scheduled_jobs")
    assert info.state.messages == 1, "the purge replaced the record's revisions"
    kv = await js.key_value("naq_scheduled_jobs")
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kv.get(handle.schedule_id)


async def test_a_stale_write_after_the_cancel_does_not_bring_the_schedule_back(queue: Queue, js: Any) -> None:
    handle = await queue.schedule("harness.jobs:add", 1, 2, interval=60)
    kv = await js.key_value("naq_scheduled_jobs")
    stale = await kv.get(handle.schedule_id)
    assert await handle.cancel()
    with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
        await kv.update(handle.schedule_id, stale.value, last=stale.revision)
    assert not await queue.list_scheduled_jobs()
