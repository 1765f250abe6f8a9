"""The leader lock against a real server: one holder, renewal by compare-and-set, expiry, release.

Clocks: lock TTL 2 s, renewal 0.5 s (the test settings); deadlines about 5x the figure checked.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

import naq.client
from harness.waiting import async_wait_for
from naq.client import Settings
from naq.client._connection import get_connection
from naq.scheduler._leader import LeaderLock


@pytest.fixture
async def locks(test_settings: Settings) -> AsyncIterator[list[LeaderLock]]:
    """Three lock contenders on one connection (the lock knows nothing of connections)."""
    connection = await get_connection(test_settings)
    ttl, renew = test_settings.scheduler_lock_ttl, test_settings.scheduler_lock_renew_interval
    yield [LeaderLock(connection, name, ttl, renew) for name in ("a", "b", "c")]
    await naq.client.close()


async def test_one_contender_takes_the_lock_and_the_others_do_not(locks: list[LeaderLock]) -> None:
    a, b, c = locks
    assert await a.try_acquire()
    assert a.held
    assert not await b.try_acquire()
    assert not await c.try_acquire()
    assert not b.held
    holder = await b.holder()
    assert holder is not None
    assert holder.instance_id == "a"


async def test_renewal_keeps_the_lock_and_moves_its_revision(locks: list[LeaderLock]) -> None:
    a, b, _ = locks
    assert await a.try_acquire()
    first = a.revision
    assert await a.renew()
    assert a.revision is not None
    assert first is not None
    assert a.revision > first
    assert not await b.try_acquire()


async def test_an_unrenewed_lock_expires_and_a_standby_takes_it_the_old_holder_cannot_renew(
    locks: list[LeaderLock],
) -> None:
    a, b, _ = locks
    assert await a.try_acquire()
    taken = time.monotonic()
    await async_wait_for(b.try_acquire, timeout=10, interval=0.1, what="standby took the expired lock")
    # Not before the TTL (2 s), minus a little for the server's expiry granularity.
    assert time.monotonic() - taken >= 1.5
    assert not a.held
    assert not await a.renew()
    assert a.revision is None
    holder = await a.holder()
    assert holder is not None
    assert holder.instance_id == "b"


async def test_the_lease_ends_locally_before_the_server_lets_the_lock_go(locks: list[LeaderLock]) -> None:
    a, b, _ = locks
    assert await a.try_acquire()
    # Without renewals, a stops considering itself leader at TTL - renew interval (1.5 s)...
    await async_wait_for(lambda: not a.held, timeout=5, interval=0.05, what="lease ran out")
    # ...while the server still holds the lock for it: nobody else can lead in between.
    assert not await b.try_acquire()


async def test_a_released_lock_is_taken_at_once(locks: list[LeaderLock]) -> None:
    a, b, _ = locks
    assert await a.try_acquire()
    await a.release()
    assert not a.held
    assert await b.try_acquire()
    assert not await a.renew()


async def test_a_lost_race_for_the_lock_is_not_a_lead(locks: list[LeaderLock]) -> None:
    a, b, c = locks
    results = [await lock.try_acquire() for lock in (a, b, c)]
    assert results.count(True) == 1
    assert sum(lock.held for lock in locks) == 1
