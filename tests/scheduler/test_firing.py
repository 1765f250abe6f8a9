"""In-process schedulers firing into a real server (no worker: runs stay in ``naq_jobs`` to be counted).

Clocks: poll 0.1 s, lock TTL 2 s, renewal 0.5 s (the test settings). Deadlines are about 5x the
figure they check; observation windows (``holds_for``) are bounded loops, not sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from itertools import pairwise
from typing import Any

import pytest

from harness.schedules import leader, published_runs, run_due_times, schedule_record
from harness.waiting import async_wait_for
from naq.client import ConfigurationError, JobNotFoundError, Queue, ScheduleStatus, Settings
from naq.client._cadence import Cadence
from naq.protocol import EventRecord, JobEnvelope, ScheduleRecord
from naq.protocol.subjects import schedule_run_job_id
from naq.scheduler import Scheduler

FUNC = "harness.jobs:add"


async def hold(check: Any, seconds: float, what: str, interval: float = 0.05) -> None:
    """``check`` (sync or async) stays true for ``seconds``; fails at once if it turns false."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / interval) + 2):
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        assert result, what
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(interval)


async def runs_of(nc: Any, schedule_id: str) -> list[float]:
    """Due times of the runs of ``schedule_id`` published so far; each run published exactly once."""
    counts = await published_runs(nc)
    doubled = {run: n for run, n in counts.items() if n != 1}
    assert not doubled, f"runs published more than once: {doubled}"
    return run_due_times(counts, schedule_id)


async def test_an_interval_schedule_with_repeat_fires_that_many_distinct_runs_then_its_record_is_gone(
    schedulers: Any, queue: Queue, nc: Any, js: Any
) -> None:
    await schedulers.start("s1")
    handle = await queue.schedule(FUNC, 1, 2, interval=1, repeat=3)
    await async_wait_for(lambda: schedule_record(js, handle.schedule_id), timeout=1, what="record stored")

    async def gone() -> bool:
        return await schedule_record(js, handle.schedule_id) is None

    await async_wait_for(gone, timeout=3 * 1 + 5, interval=0.1, what="record removed after 3 runs")
    due = await runs_of(nc, handle.schedule_id)
    assert len(due) == 3, due
    assert all(b - a == pytest.approx(1.0, abs=0.01) for a, b in pairwise(due)), due
    await hold(lambda: runs_of(nc, handle.schedule_id), 0.5, "no run after the last")
    assert len(await runs_of(nc, handle.schedule_id)) == 3


async def test_enqueue_in_fires_once_not_before_its_time_then_its_record_is_gone(
    schedulers: Any, queue: Queue, nc: Any, js: Any
) -> None:
    await schedulers.start("s1")
    asked = time.time()
    job = await queue.enqueue_in(2, FUNC, 2, 3)
    record = await schedule_record(js, job.job_id)
    assert record is not None
    assert record.one_off

    async def published() -> bool:
        return job.job_id in await published_runs(nc)

    await async_wait_for(published, timeout=2 + 0.1 + 5, interval=0.05, what="one-off run published")
    seen = time.time()
    message = await js.get_last_msg("naq_jobs", "naq.queue.default")
    envelope = JobEnvelope.decode(message.data)
    assert envelope.job_id == job.job_id
    assert message.headers["Nats-Msg-Id"] == job.job_id
    assert envelope.enqueued_at >= asked + 2, "fired before its time"
    assert seen - asked <= 2 + 0.1 + 1 + 2  # due + poll + 1 s, plus slack for a loaded machine
    assert await schedule_record(js, job.job_id) is None
    assert (await published_runs(nc))[job.job_id] == 1


async def test_a_cron_schedule_fires_at_the_next_matching_utc_times(
    schedulers: Any, queue: Queue, nc: Any, js: Any
) -> None:
    await schedulers.start("s1")
    created = time.time()
    # Six fields, seconds last (croniter's convention): every 2 seconds.
    handle = await queue.schedule(FUNC, 1, 1, cron="* * * * * */2", repeat=2)
    record = await handle.info()
    assert record.next_run_at == Cadence(cron="* * * * * */2").next_after(created)
    assert record.next_run_at % 2 == 0
    assert 0 < record.next_run_at - created <= 2

    async def gone() -> bool:
        return await schedule_record(js, handle.schedule_id) is None

    await async_wait_for(gone, timeout=4 + 5, interval=0.1, what="two cron runs fired")
    due = await runs_of(nc, handle.schedule_id)
    assert due == [record.next_run_at, record.next_run_at + 2]


async def test_a_paused_schedule_does_not_fire_and_resumes_without_a_burst(
    schedulers: Any, queue: Queue, nc: Any
) -> None:
    await schedulers.start("s1")
    handle = await queue.schedule(FUNC, 1, 1, interval=1)
    await async_wait_for(lambda: runs_of(nc, handle.schedule_id), timeout=1 + 5, what="first run")
    assert await handle.pause()
    paused_at = time.time()
    count = len(await runs_of(nc, handle.schedule_id))
    await hold(
        lambda: _count_is(nc, handle.schedule_id, count), 3, "no run while paused (a run in flight at pause may land)"
    )
    assert (await handle.info()).status == ScheduleStatus.PAUSED
    assert await handle.resume()
    resumed_at = time.time()
    await hold(lambda: True, 3.2, "observing the cadence after resume")
    due = await runs_of(nc, handle.schedule_id)
    during_pause = [t for t in due if paused_at + 0.2 < t <= resumed_at]
    after = [t for t in due if t > resumed_at]
    assert len(during_pause) <= 1, f"the missed runs merge into one catch-up run, got {during_pause}"
    assert all(b - a >= 1 - 0.01 for a, b in pairwise(due)), f"a burst: {due}"
    assert 2 <= len(after) + len(during_pause) <= 5, due
    assert await handle.cancel()


async def _count_is(nc: Any, schedule_id: str, count: int) -> bool:
    # One run may have been claimed just before the pause and published just after it.
    return len(await runs_of(nc, schedule_id)) <= count + 1


async def test_cancels_racing_the_firing_loop_never_bring_a_schedule_back(
    schedulers: Any, queue: Queue, nc: Any, js: Any
) -> None:
    await schedulers.start("s1")
    handles = []
    for round_number in range(3):
        batch = [await queue.schedule(FUNC, round_number, i, interval=0.1) for i in range(10)]
        handles += batch
        for i, handle in enumerate(batch):
            # Staggered, so the cancels land at every point of a firing: before, during, after.
            await asyncio.sleep(0.013 * i)
            assert await handle.cancel()
    counts = {h.schedule_id: len(await runs_of(nc, h.schedule_id)) for h in handles}

    async def all_gone_and_still() -> bool:
        for handle in handles:
            if await schedule_record(js, handle.schedule_id) is not None:
                return False
            if len(await runs_of(nc, handle.schedule_id)) > counts[handle.schedule_id] + 1:
                return False
        return True

    # A run claimed just before a cancel may still be published once; nothing after that.
    await hold(all_gone_and_still, 1.0, "a cancelled schedule came back or kept firing")
    assert not await queue.list_scheduled_jobs()
    assert await queue.cancel_scheduled_job(handles[0].schedule_id) is False


async def test_bad_control_calls_are_clear_errors(queue: Queue) -> None:
    handle = await queue.schedule(FUNC, 1, 1, interval=60)
    with pytest.raises(ConfigurationError, match="cannot modify"):
        await queue.modify_scheduled_job(handle.schedule_id, color="red")
    with pytest.raises(JobNotFoundError):
        await queue.modify_scheduled_job("no-such-schedule", interval=5)
    assert await queue.cancel_scheduled_job("no-such-schedule") is False
    assert await queue.pause_scheduled_job("no-such-schedule") is False


async def test_runs_missed_while_no_scheduler_ran_merge_into_one_catch_up_run(
    schedulers: Any, queue: Queue, nc: Any
) -> None:
    handle = await queue.schedule(FUNC, 1, 1, interval=1)
    missed_from = time.time() - 10.5
    await handle.modify(next_run=missed_from)
    await schedulers.start("s1")
    started = time.time()
    await async_wait_for(lambda: runs_of(nc, handle.schedule_id), timeout=5, what="catch-up run")
    due = await runs_of(nc, handle.schedule_id)
    assert len(due) == 1
    # The latest missed due time: missed_from + 10 s (the run at +11 s was not due yet).
    assert due[0] == pytest.approx(missed_from + 10, abs=0.01)
    record = await handle.info()
    assert record.next_run_at == pytest.approx(missed_from + 11, abs=0.01)
    assert record.next_run_at > started - 0.6
    assert await handle.cancel()


async def test_a_schedule_that_cannot_publish_is_marked_failed_and_can_be_resumed(
    test_settings: Settings, schedulers: Any, nc: Any
) -> None:
    settings = dataclasses.replace(test_settings, queue_max_bytes=1, max_schedule_failures=3)
    # Settings of its own, so the scheduler has its own connection (and its own view of how full
    # the stream is, which a connection caches for a second).
    schedulers.settings = dataclasses.replace(settings, connect_timeout=2.5)
    queue = Queue(settings=settings)
    await queue.enqueue(FUNC, 0, 0)  # the stream now holds more than its 1-byte bound
    handle = await queue.schedule(FUNC, 1, 1, interval=0.2)
    await schedulers.start("s1")

    async def failed() -> ScheduleRecord | None:
        record = await handle.info()
        return record if record.status == ScheduleStatus.FAILED else None

    record = await async_wait_for(failed, timeout=10, interval=0.1, what="schedule marked failed")
    assert record is not None
    assert record.failures == 3
    assert "QueueFullError" in (record.last_error or "")
    assert not await runs_of(nc, handle.schedule_id)
    await schedulers.close()  # so the resumed schedule is not tried (and failed) again at once
    assert await handle.resume()
    resumed = await handle.info()
    assert resumed.status == ScheduleStatus.ACTIVE
    assert resumed.failures == 0


async def test_a_claimed_run_left_by_a_crashed_leader_is_published_once_and_confirmed(
    schedulers: Any, queue: Queue, nc: Any, js: Any
) -> None:
    await queue.purge()  # creates the job stream
    now = time.time()
    published_before = await queue.schedule(FUNC, 1, 1, interval=60)
    never_published = await queue.schedule(FUNC, 2, 2, interval=60)
    kv = await js.key_value("naq_scheduled_jobs")
    for handle in (published_before, never_published):
        record = await handle.info()
        claimed = dataclasses.replace(record, runs=1, last_run_at=now - 1, pending_run_at=now - 1, next_run_at=now + 59)
        await kv.put(handle.schedule_id, claimed.encode())
    # The crashed leader got as far as publishing the first one.
    run_id = schedule_run_job_id(published_before.schedule_id, now - 1)
    template = (await published_before.info()).job
    job = dataclasses.replace(template, job_id=run_id)
    await js.publish("naq.queue.default", job.encode(), headers={"Nats-Msg-Id": run_id})
    await schedulers.start("s1")

    async def confirmed() -> bool:
        records = [await handle.info() for handle in (published_before, never_published)]
        return all(record.pending_run_at is None for record in records)

    await async_wait_for(confirmed, timeout=5, interval=0.1, what="claims confirmed")
    counts = await published_runs(nc)
    assert counts[run_id] == 1
    assert counts[schedule_run_job_id(never_published.schedule_id, now - 1)] == 1
    assert (await never_published.info()).runs == 1


async def test_an_undecodable_record_does_not_stop_the_scheduler(
    schedulers: Any, queue: Queue, nc: Any, js: Any
) -> None:
    handle = await queue.schedule(FUNC, 1, 1, interval=0.5, repeat=1)
    kv = await js.key_value("naq_scheduled_jobs")
    await kv.put("garbage", b"\x00 not a record")
    await schedulers.start("s1")
    await async_wait_for(lambda: runs_of(nc, handle.schedule_id), timeout=5, what="the good schedule fired")
    entry = await kv.get("garbage")
    assert entry.value == b"\x00 not a record", "left for an operator to see"


async def test_exactly_one_of_several_schedulers_leads_and_a_clean_stop_hands_over_within_a_poll(
    schedulers: Any, js: Any, test_settings: Settings
) -> None:
    started = [await schedulers.start(name) for name in ("s1", "s2", "s3")]
    first = await async_wait_for(lambda: _single_leader(started), timeout=5, what="one leader")
    assert await leader(js) == first.instance_id
    stopped_at = time.monotonic()
    await schedulers.stop(first)
    rest = [s for s in started if s is not first]
    second = await async_wait_for(lambda: _single_leader(rest), timeout=5, interval=0.01, what="a new leader")
    handover = time.monotonic() - stopped_at
    assert handover <= 5 * test_settings.scheduler_poll_interval + 1, handover
    assert await leader(js) == second.instance_id


def _single_leader(candidates: list[Scheduler]) -> Scheduler | None:
    leading = [s for s in candidates if s.is_leader]
    assert len(leading) <= 1, f"two leaders: {leading}"
    return leading[0] if leading else None


async def test_without_ha_a_scheduler_fires_and_takes_no_lock(schedulers: Any, queue: Queue, nc: Any, js: Any) -> None:
    await schedulers.start("solo", enable_ha=False)
    handle = await queue.schedule(FUNC, 1, 1, interval=0.3, repeat=1)
    await async_wait_for(lambda: runs_of(nc, handle.schedule_id), timeout=5, what="fired without a lock")
    assert await leader(js) is None


async def test_bad_scheduler_settings_are_configuration_errors(test_settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="RENEW_INTERVAL"):
        Scheduler(settings=test_settings, lock_ttl=2, renew_interval=3)
    with pytest.raises(ConfigurationError, match="instance id"):
        Scheduler(settings=test_settings, instance_id="has spaces")
    with pytest.raises(ConfigurationError, match="POLL_INTERVAL"):
        Scheduler(settings=test_settings, poll_interval=-1)


async def test_leader_changes_are_published_as_system_events(schedulers: Any, nc: Any, test_settings: Settings) -> None:
    events: list[EventRecord] = []

    async def collect(message: Any) -> None:
        events.append(EventRecord.decode(message.data))

    subscription = await nc.subscribe("naq.events._sys.*", cb=collect)
    first = await schedulers.start("s1")
    await async_wait_for(lambda: first.is_leader, timeout=5, what="s1 leads")
    await schedulers.start("s2")
    await schedulers.stop(first)

    def seen() -> bool:
        kinds = [(e.kind, e.data.get("instance_id")) for e in events]
        return {("leader_elected", "s1"), ("leader_lost", "s1"), ("leader_elected", "s2")} <= set(kinds)

    await async_wait_for(seen, timeout=5 * test_settings.scheduler_poll_interval + 5, what="leader events")
    await subscription.unsubscribe()


async def test_a_scheduler_creates_the_job_stream_it_publishes_to(schedulers: Any, js: Any) -> None:
    await schedulers.start("s1")
    info = await js.stream_info("naq_jobs")
    assert info.config.name == "naq_jobs"


async def test_a_claim_that_landed_unseen_is_read_back_and_its_run_published_once(
    test_settings: Settings, queue: Queue, nc: Any, js: Any
) -> None:
    """A claim whose request timed out during a NATS outage but landed on reconnect, while the watch
    is stale (a restarted server lost its ordered consumer): the next claim fails on the revision,
    and the firer reads the record back instead of retrying the stale one forever."""
    from naq.client.runtime import close_connections, get_connection
    from naq.scheduler._firing import Firer
    from naq.scheduler._view import ScheduleView

    await queue.purge()  # creates the job stream
    handle = await queue.schedule(FUNC, 1, 1, interval=60)
    kv = await js.key_value("naq_scheduled_jobs")
    now = time.time()
    due = dataclasses.replace(await handle.info(), next_run_at=now - 1)
    seen = await kv.put(handle.schedule_id, due.encode())
    claimed = dataclasses.replace(due, runs=1, last_run_at=now - 1, pending_run_at=now - 1, next_run_at=now + 59)
    await kv.update(handle.schedule_id, claimed.encode(), last=seen)  # landed, never seen by the view
    view = ScheduleView()
    view.update(due, seen)
    firer = Firer(await get_connection(test_settings), view, lambda: True, 5, 0.1, 0.05)
    try:
        await firer.fire(due, seen)  # its claim fails on the revision
        [(record, _)] = view.pop_due(time.time(), 10)
        assert record.pending_run_at == claimed.pending_run_at, "the view still holds the stale record"
        await firer.fire(*view.records[handle.schedule_id])
    finally:
        await close_connections()
    assert (await handle.info()).pending_run_at is None, "the claimed run was confirmed"
    counts = await published_runs(nc)
    assert counts[schedule_run_job_id(handle.schedule_id, now - 1)] == 1
