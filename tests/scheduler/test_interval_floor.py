"""A stored schedule whose interval is below ``NAQ_MIN_SCHEDULE_INTERVAL`` is never fired.

Producers refuse such intervals at the call (tests/client/test_interval_floor.py); a record
written by other means (an older producer, by hand) is marked failed by the scheduler, with the
reason, and no run is published.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.schedules import published_runs, run_due_times, schedule_record
from harness.waiting import async_wait_for
from naq.client import Queue, ScheduleStatus
from naq.protocol import names

FUNC = "harness.jobs:add"


async def test_a_stored_interval_below_the_floor_is_marked_failed_and_never_fired(
    schedulers: Any, queue: Queue, js: Any, nc: Any
) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="too-fast")
    stored = await schedule_record(js, "too-fast")
    assert stored is not None
    # Rewritten behind the producer's checks, due at once.
    tampered = dataclasses.replace(stored, interval=1e-9, next_run_at=stored.created_at)
    kv = await js.key_value(names.SCHEDULES_BUCKET)
    await kv.put("too-fast", tampered.encode())
    await schedulers.start("s1")

    async def failed() -> Any:
        record = await schedule_record(js, "too-fast")
        return record if record is not None and record.status == ScheduleStatus.FAILED else None

    record = await async_wait_for(failed, timeout=10, interval=0.05, what="schedule marked failed")
    assert "shorter than NAQ_MIN_SCHEDULE_INTERVAL" in (record.last_error or "")
    assert run_due_times(await published_runs(nc), handle.schedule_id) == []
