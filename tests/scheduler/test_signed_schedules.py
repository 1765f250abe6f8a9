"""A scheduler holding ``NAQ_SIGNING_KEY`` checks a schedule's job template before firing: also
for a claim found in the record (``pending_run_at``: a crashed leader's, or one written into the
bucket), which is published without a new claim and so must be checked on its own path."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from harness.schedules import published_runs
from harness.waiting import async_wait_for
from naq.client import Queue, ScheduleStatus, Settings

FUNC = "harness.jobs:add"
KEY = "k1:scheduler-test-secret"


async def test_a_claimed_run_whose_template_does_not_verify_is_not_published(
    schedulers: Any, test_settings: Settings, nc: Any, js: Any
) -> None:
    keyed = Settings.from_env(test_settings.as_env(), signing_key=KEY)
    queue = Queue(settings=keyed)
    await queue.purge()  # creates the job stream
    now = time.time()
    good = await queue.schedule(FUNC, 1, 1, interval=60)
    bad = await queue.schedule(FUNC, 2, 2, interval=60)
    kv = await js.key_value("naq_scheduled_jobs")
    for handle, args in ((good, [1, 1]), (bad, [6, 6])):  # bad: arguments changed, signature copied
        record = await handle.info()
        job = dataclasses.replace(record.job, payload={"args": args, "kwargs": {}})
        claimed = dataclasses.replace(
            record, job=job, runs=1, last_run_at=now - 1, pending_run_at=now - 1, next_run_at=now + 59
        )
        await kv.put(handle.schedule_id, claimed.encode())
    schedulers.settings = keyed  # this test's schedulers hold the key
    await schedulers.start("s1")

    async def settled() -> list[Any] | None:
        records = [await handle.info() for handle in (good, bad)]
        return records if all(r.pending_run_at is None for r in records) else None

    good_record, bad_record = await async_wait_for(settled, timeout=10, interval=0.1, what="claims dealt with")
    assert good_record.status == ScheduleStatus.ACTIVE
    assert bad_record.status == ScheduleStatus.FAILED
    assert "signature does not verify" in (bad_record.last_error or "")
    counts = await published_runs(nc)
    assert sum(1 for msg_id in counts if msg_id.startswith(good.schedule_id)) == 1
    assert not any(msg_id.startswith(bad.schedule_id) for msg_id in counts)
