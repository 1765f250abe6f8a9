"""Scheduling, producer side: what enqueue_at / enqueue_in / schedule store, and how control calls change it.

No scheduler runs here: each test checks the records the producer writes in ``naq_scheduled_jobs``
(read back both through naq and directly through nats-py) and how pause, resume, modify and cancel
change them, by compare-and-set. The last sections cover the ``_sync`` twins and test mode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import naq.client
from harness.schedules import schedule_record
from naq.client import (
    ConfigurationError,
    JobCancelledError,
    JobNotFoundError,
    Queue,
    ScheduledJob,
    ScheduleRecord,
    ScheduleStatus,
    Settings,
    cancel_job,
    cancel_scheduled_job,
    cancel_scheduled_job_sync,
    enqueue_at,
    enqueue_at_sync,
    enqueue_in,
    enqueue_in_sync,
    list_scheduled_jobs,
    list_scheduled_jobs_sync,
    modify_scheduled_job,
    modify_scheduled_job_sync,
    pause_scheduled_job,
    pause_scheduled_job_sync,
    resume_scheduled_job,
    resume_scheduled_job_sync,
    schedule,
    schedule_sync,
)
from naq.client._cadence import Cadence
from naq.client._connection import get_connection
from naq.client._schedule_store import change_schedule, read_schedule
from naq.client._sync import run_sync
from naq.client.testing import inline_jobs
from naq.protocol import names

FUNC = "harness.jobs:add"
"""The job function of most schedules here (never run: no scheduler, no worker)."""


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """A job for test mode: returns what it was called with."""
    return {"args": list(args), "kwargs": kwargs}


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue with the test settings; this loop's naq connections are closed after the test."""
    yield Queue(settings=test_settings)
    await naq.client.close()


async def overwrite(js: Any, record: ScheduleRecord) -> None:
    """Put ``record`` in the bucket as a scheduler would have left it (e.g. with runs or failures)."""
    kv = await js.key_value(names.SCHEDULES_BUCKET)
    await kv.put(record.schedule_id, record.encode())


async def must_exist(js: Any, schedule_id: str) -> ScheduleRecord:
    """The stored record of ``schedule_id``; fails the test if there is none."""
    record = await schedule_record(js, schedule_id)
    assert record is not None, f"no record {schedule_id!r} in {names.SCHEDULES_BUCKET}"
    return record


async def ids_listed(**filters: Any) -> list[str]:
    """Schedule ids that ``list_scheduled_jobs(**filters)`` returns, in its order."""
    return [record.schedule_id for record in await list_scheduled_jobs(**filters)]


# --- one-off runs: enqueue_in / enqueue_at -----------------------------------------------------------


async def test_enqueue_in_stores_a_one_off_record_keyed_by_the_returned_job_id(queue: Queue, js: Any) -> None:
    before = time.time()
    job = await queue.enqueue_in(30, FUNC, 1, 2)
    after = time.time()
    record = await must_exist(js, job.job_id)
    assert record.one_off
    assert record.schedule_id == record.job.job_id == job.job_id
    assert before + 30 <= record.next_run_at <= after + 30
    assert (record.status, record.runs, record.repeat, record.pending_run_at) == (ScheduleStatus.ACTIVE, 0, None, None)
    assert (record.job.queue, record.job.function) == ("default", FUNC)
    assert record.job.payload == {"args": [1, 2], "kwargs": {}}
    assert await list_scheduled_jobs(nats_url=queue.settings.nats_url) == [record]


async def test_enqueue_in_takes_a_timedelta(queue: Queue, js: Any) -> None:
    before = time.time()
    job = await queue.enqueue_in(timedelta(minutes=5), FUNC, 1, 2)
    after = time.time()
    record = await must_exist(js, job.job_id)
    assert before + 300 <= record.next_run_at <= after + 300


@pytest.mark.parametrize(
    "when",
    [
        datetime(2031, 2, 3, 4, 5, 6),  # naive = UTC
        datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2031, 2, 2, 23, 5, 6, tzinfo=ZoneInfo("America/New_York")),
        datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp(),
    ],
)
async def test_enqueue_at_stores_the_time_asked_naive_meaning_utc(queue: Queue, js: Any, when: Any) -> None:
    job = await queue.enqueue_at(when, FUNC, 1, 2)
    record = await must_exist(js, job.job_id)
    assert record.next_run_at == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()


async def test_module_functions_schedule_on_the_named_queue(queue: Queue, js: Any) -> None:
    url = queue.settings.nats_url
    at = await enqueue_at(datetime(2031, 1, 1), FUNC, 1, 2, queue_name="emails", nats_url=url)
    later = await enqueue_in(60, FUNC, 3, 4, queue_name="emails", nats_url=url)
    handle = await schedule(FUNC, 5, 6, interval=60, queue_name="reports", nats_url=url)
    assert (await must_exist(js, at.job_id)).job.queue == "emails"
    assert (await must_exist(js, later.job_id)).job.queue == "emails"
    assert (await must_exist(js, handle.schedule_id)).job.queue == "reports"
    assert (at.queue, later.queue, handle.queue) == ("emails", "emails", "reports")


async def test_enqueue_at_with_an_id_already_in_use_is_a_configuration_error(queue: Queue, js: Any) -> None:
    job = await queue.enqueue_at(datetime(2031, 1, 1), FUNC, 1, 2, job_id="report-2031")
    assert job.job_id == "report-2031"
    with pytest.raises(ConfigurationError, match="report-2031"):
        await queue.enqueue_at(datetime(2032, 1, 1), FUNC, 1, 2, job_id="report-2031")
    await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="nightly")
    with pytest.raises(ConfigurationError, match="nightly"):
        await queue.enqueue_in(60, FUNC, 1, 2, job_id="nightly")
    assert (await must_exist(js, "report-2031")).next_run_at == datetime(2031, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("delay", [-1, -0.5, timedelta(seconds=-1), float("nan"), float("inf"), True, "10"])
async def test_a_bad_delay_is_a_configuration_error(queue: Queue, delay: Any) -> None:
    with pytest.raises(ConfigurationError, match="delay"):
        await queue.enqueue_in(delay, FUNC, 1, 2)
    assert await list_scheduled_jobs(nats_url=queue.settings.nats_url) == []


@pytest.mark.parametrize("when", ["tomorrow", -5, None, float("nan")])
async def test_a_bad_time_is_a_configuration_error(queue: Queue, when: Any) -> None:
    with pytest.raises(ConfigurationError, match="when"):
        await queue.enqueue_at(when, FUNC, 1, 2)


# --- recurring schedules --------------------------------------------------------------------------


async def test_a_cron_schedule_returns_a_handle_whose_id_keys_the_record(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="*/5 * * * *")
    assert isinstance(handle, ScheduledJob)
    assert handle.job_id == handle.schedule_id
    record = await must_exist(js, handle.schedule_id)
    assert (record.cron, record.cron_tz, record.interval, record.repeat) == ("*/5 * * * *", None, None, None)
    assert not record.one_off
    assert record.job.job_id == record.schedule_id
    assert record.next_run_at == Cadence(cron="*/5 * * * *").next_after(record.created_at)
    assert await handle.info() == record


async def test_a_cron_schedule_keeps_its_time_zone(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="30 2 * * *", cron_tz="America/New_York")
    record = await must_exist(js, handle.schedule_id)
    assert (record.cron, record.cron_tz) == ("30 2 * * *", "America/New_York")
    assert record.next_run_at == Cadence(cron="30 2 * * *", cron_tz="America/New_York").next_after(record.created_at)


async def test_an_interval_schedule_first_runs_one_interval_after_it_was_created(queue: Queue, js: Any) -> None:
    before = time.time()
    handle = await queue.schedule(FUNC, 1, 2, interval=timedelta(seconds=90), repeat=3)
    after = time.time()
    record = await must_exist(js, handle.schedule_id)
    assert (record.interval, record.repeat, record.cron) == (90.0, 3, None)
    assert before <= record.created_at <= after
    assert record.next_run_at == record.created_at + 90


async def test_schedule_id_and_its_alias_job_id_name_the_schedule(queue: Queue, js: Any) -> None:
    named = await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="nightly-report")
    alias = await queue.schedule(FUNC, 1, 2, cron="0 * * * *", job_id="hourly-report")
    assert (named.schedule_id, named.job_id) == ("nightly-report", "nightly-report")
    assert (alias.schedule_id, alias.job_id) == ("hourly-report", "hourly-report")
    assert (await must_exist(js, "nightly-report")).job.job_id == "nightly-report"
    # The alias is naq's option, not a keyword argument of the function.
    assert (await must_exist(js, "hourly-report")).job.payload == {"args": [1, 2], "kwargs": {}}


async def test_a_schedule_id_already_in_use_is_a_configuration_error(queue: Queue, js: Any) -> None:
    await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="nightly")
    with pytest.raises(ConfigurationError, match="already exists"):
        await queue.schedule(FUNC, 3, 4, cron="0 * * * *", schedule_id="nightly")
    assert (await must_exist(js, "nightly")).interval == 60.0  # the first is untouched


async def test_a_cancelled_schedules_id_can_be_used_again(queue: Queue, js: Any) -> None:
    await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="again")
    assert await queue.cancel_scheduled_job("again")
    await queue.schedule(FUNC, 1, 2, cron="0 * * * *", schedule_id="again")
    assert (await must_exist(js, "again")).cron == "0 * * * *"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"cron": "* * * * *", "interval": 60}, ConfigurationError, "exactly one"),
        ({}, ConfigurationError, "exactly one"),
        ({"cron": "not a cron"}, ConfigurationError, "not a cron"),
        ({"cron": "61 * * * *"}, ConfigurationError, "out of range"),
        ({"cron": "0 0 31 2 *"}, ConfigurationError, "cron"),  # 31 February never comes
        ({"interval": 0}, ValueError, "interval"),
        ({"interval": -5}, ValueError, "interval"),
        ({"interval": timedelta(0)}, ValueError, "interval"),
        ({"interval": float("nan")}, ValueError, "interval"),
        ({"interval": 60, "repeat": 0}, ValueError, "repeat"),
        ({"interval": 60, "repeat": -1}, ValueError, "repeat"),
        ({"interval": 60, "cron_tz": "Europe/Paris"}, ConfigurationError, "cron_tz"),
        ({"cron": "0 * * * *", "cron_tz": "Mars/Olympus"}, ConfigurationError, "Mars/Olympus"),
        ({"interval": 60, "serializer": "pickle"}, ConfigurationError, "json"),
        ({"interval": 60, "schedule_id": "has space"}, ValueError, "has space"),
    ],
)
async def test_bad_schedules_are_errors_at_the_call_and_store_nothing(
    queue: Queue, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await queue.schedule(FUNC, 1, 2, **options)
    assert await list_scheduled_jobs(nats_url=queue.settings.nats_url) == []


async def test_scheduled_jobs_need_the_json_serializer(queue: Queue, js: Any) -> None:
    pickling = Queue(settings=Settings.from_env(queue.settings.as_env(), job_serializer="pickle"))
    with pytest.raises(ConfigurationError, match="json"):
        await pickling.schedule(FUNC, 1, 2, interval=60)
    with pytest.raises(ConfigurationError, match="json"):
        await pickling.enqueue_in(60, FUNC, 1, 2)
    with pytest.raises(ConfigurationError, match="json"):
        await queue.enqueue_at(datetime(2031, 1, 1), FUNC, 1, 2, serializer="pickle")
    handle = await pickling.schedule(FUNC, 1, 2, interval=60, serializer="json")
    assert (await must_exist(js, handle.schedule_id)).job.serializer == "json"


async def test_a_bad_queue_name_is_a_value_error(queue: Queue) -> None:
    url = queue.settings.nats_url
    with pytest.raises(ValueError, match="queue"):
        await schedule(FUNC, 1, 2, interval=60, queue_name="no.dots", nats_url=url)
    with pytest.raises(ValueError, match="queue"):
        await enqueue_in(60, FUNC, 1, 2, queue_name="no spaces", nats_url=url)
    with pytest.raises(ValueError, match="queue"):
        await list_scheduled_jobs(queue="a>b", nats_url=url)


async def test_job_options_and_function_kwargs_stay_apart_in_the_record(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(
        FUNC,
        1,
        interval=60,
        max_retries=3,
        retry_delay=[1, 2],
        timeout=5,
        result_ttl=60,
        b=2,
        func_kwargs={"timeout": 7, "interval": 9, "max_retries": "x"},
    )
    record = await must_exist(js, handle.schedule_id)
    assert record.interval == 60.0
    job = record.job
    assert (job.max_retries, job.retry_delay, job.timeout, job.result_ttl) == (3, (1.0, 2.0), 5.0, 60)
    assert job.payload == {"args": [1], "kwargs": {"b": 2, "timeout": 7, "interval": 9, "max_retries": "x"}}


async def test_one_off_job_options_and_kwargs_stay_apart_in_the_record(queue: Queue, js: Any) -> None:
    job = await queue.enqueue_in(
        60, FUNC, 1, b=2, job_id="once", max_retries=2, timeout=3, func_kwargs={"job_id": "for-the-function"}
    )
    record = await must_exist(js, job.job_id)
    assert record.job.job_id == "once"
    assert (record.job.max_retries, record.job.timeout, record.job.result_ttl) == (2, 3.0, None)
    assert record.job.payload == {"args": [1], "kwargs": {"b": 2, "job_id": "for-the-function"}}
    with pytest.raises(ConfigurationError, match="given twice"):
        await queue.enqueue_in(60, FUNC, 1, b=2, func_kwargs={"b": 3})


# --- pause, resume, cancel ------------------------------------------------------------------------


async def test_pause_and_resume_change_the_status(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    assert await queue.pause_scheduled_job(handle.schedule_id) is True
    assert (await must_exist(js, handle.schedule_id)).status == ScheduleStatus.PAUSED
    assert await handle.pause() is True  # already paused: still there
    assert await queue.resume_scheduled_job(handle.schedule_id) is True
    assert (await must_exist(js, handle.schedule_id)).status == ScheduleStatus.ACTIVE
    assert await resume_scheduled_job(handle.schedule_id, nats_url=queue.settings.nats_url) is True  # already active


async def test_resume_of_a_failed_schedule_resets_its_failures(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    failed = dataclasses.replace(
        await must_exist(js, handle.schedule_id), status=ScheduleStatus.FAILED, failures=5, last_error="no stream"
    )
    await overwrite(js, failed)
    assert await handle.resume() is True
    record = await must_exist(js, handle.schedule_id)
    assert (record.status, record.failures, record.last_error) == (ScheduleStatus.ACTIVE, 0, None)
    assert dataclasses.replace(record, status=failed.status, failures=5, last_error="no stream") == failed


async def test_cancel_deletes_the_record(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    kept = await queue.schedule(FUNC, 1, 2, interval=120)
    assert await cancel_scheduled_job(handle.schedule_id, nats_url=queue.settings.nats_url) is True
    assert await schedule_record(js, handle.schedule_id) is None
    assert await ids_listed(nats_url=queue.settings.nats_url) == [kept.schedule_id]
    assert await handle.cancel() is False
    with pytest.raises(JobNotFoundError):
        await handle.info()


async def test_concurrent_cancels_of_one_schedule_report_a_single_cancel(queue: Queue, js: Any) -> None:
    # "True if it existed, False if unknown": only one of the calls deleted the record.
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    results = await asyncio.gather(*(queue.cancel_scheduled_job(handle.schedule_id) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert await schedule_record(js, handle.schedule_id) is None


async def test_cancel_scheduled_job_of_a_one_off_run_ends_its_job_as_cancelled(queue: Queue, js: Any) -> None:
    # The Job of enqueue_in promises a result; cancelled through either cancel path, it says cancelled
    # (as cancel_job does) instead of leaving result() waiting for a run that will never come.
    job = await queue.enqueue_in(60, FUNC, 1, 2)
    assert await queue.cancel_scheduled_job(job.job_id) is True
    assert await schedule_record(js, job.job_id) is None
    with pytest.raises(JobCancelledError):
        await job.result(timeout=2)


async def test_control_of_an_unknown_id_says_false(queue: Queue) -> None:
    url = queue.settings.nats_url
    assert await queue.cancel_scheduled_job("no-such-schedule") is False
    assert await queue.pause_scheduled_job("no-such-schedule") is False
    assert await queue.resume_scheduled_job("no-such-schedule") is False
    assert await cancel_scheduled_job("no-such-schedule", nats_url=url) is False
    assert await pause_scheduled_job("no-such-schedule", nats_url=url) is False
    assert await resume_scheduled_job("no-such-schedule", nats_url=url) is False


async def test_control_of_an_invalid_id_is_a_value_error(queue: Queue) -> None:
    with pytest.raises(ValueError, match="has:colon"):
        await queue.pause_scheduled_job("has:colon")
    with pytest.raises(ValueError, match="has:colon"):
        await queue.modify_scheduled_job("has:colon", interval=5)


# --- modify ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["queue", "max_retries", "status", "runs", "func"])
async def test_modify_with_an_unknown_key_is_a_configuration_error(queue: Queue, js: Any, key: str) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    before = await must_exist(js, handle.schedule_id)
    with pytest.raises(ConfigurationError, match=key):
        await queue.modify_scheduled_job(handle.schedule_id, **{key: 1})
    assert await must_exist(js, handle.schedule_id) == before


async def test_modify_of_an_unknown_id_is_job_not_found(queue: Queue) -> None:
    with pytest.raises(JobNotFoundError, match="no-such-schedule"):
        await queue.modify_scheduled_job("no-such-schedule", interval=60)
    with pytest.raises(JobNotFoundError):
        await modify_scheduled_job("no-such-schedule", nats_url=queue.settings.nats_url, cron="0 * * * *")


async def test_modify_interval_to_cron_switches_cadence_and_recomputes_next_run(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60, repeat=4)
    before = time.time()
    returned = await handle.modify(cron="0 3 * * *")
    after = time.time()
    record = await must_exist(js, handle.schedule_id)
    assert returned == record
    assert (record.cron, record.interval, record.repeat) == ("0 3 * * *", None, 4)
    cron = Cadence(cron="0 3 * * *")
    assert record.next_run_at in {cron.next_after(before), cron.next_after(after)}


async def test_modify_cron_to_interval_switches_cadence_and_recomputes_next_run(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="0 3 * * *", cron_tz="Europe/Paris")
    before = time.time()
    await queue.modify_scheduled_job(handle.schedule_id, interval=timedelta(minutes=10))
    after = time.time()
    record = await must_exist(js, handle.schedule_id)
    assert (record.cron, record.cron_tz, record.interval) == (None, None, 600.0)
    assert before + 600 <= record.next_run_at <= after + 600


async def test_modify_cron_tz_recomputes_the_next_run_in_the_new_zone(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="0 3 * * *")
    before = time.time()
    await handle.modify(cron_tz="Asia/Tokyo")
    after = time.time()
    record = await must_exist(js, handle.schedule_id)
    assert (record.cron, record.cron_tz) == ("0 3 * * *", "Asia/Tokyo")
    tokyo = Cadence(cron="0 3 * * *", cron_tz="Asia/Tokyo")
    assert record.next_run_at in {tokyo.next_after(before), tokyo.next_after(after)}


@pytest.mark.parametrize(
    ("next_run", "expected"),
    [
        (datetime(2031, 5, 6, 7, 8, 9), datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()),  # naive = UTC
        ("2031-05-06T07:08:09Z", datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC).timestamp()),
        (1_950_000_000, 1_950_000_000.0),
    ],
)
async def test_modify_next_run_sets_it_and_keeps_the_cadence(
    queue: Queue, js: Any, next_run: Any, expected: float
) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="*/5 * * * *")
    await handle.modify(next_run=next_run)
    record = await must_exist(js, handle.schedule_id)
    assert (record.next_run_at, record.cron, record.interval) == (expected, "*/5 * * * *", None)


async def test_modify_keeps_a_paused_schedule_paused(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    await handle.pause()
    await handle.modify(interval=30, repeat=2)
    record = await must_exist(js, handle.schedule_id)
    assert (record.status, record.interval, record.repeat) == (ScheduleStatus.PAUSED, 30.0, 2)


async def test_modify_repeat_to_no_more_than_the_runs_done_is_a_configuration_error(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60, repeat=10)
    await overwrite(js, dataclasses.replace(await must_exist(js, handle.schedule_id), runs=3))
    for repeat in (3, 2):
        with pytest.raises(ConfigurationError, match="already ran 3"):
            await handle.modify(repeat=repeat)
    assert (await must_exist(js, handle.schedule_id)).repeat == 10
    await handle.modify(repeat=4)
    assert (await must_exist(js, handle.schedule_id)).repeat == 4
    await handle.modify(repeat=None)  # forever
    assert (await must_exist(js, handle.schedule_id)).repeat is None


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"cron": "0 * * * *", "interval": 60}, ConfigurationError),
        ({"cron": "not a cron"}, ConfigurationError),
        ({"interval": 0}, ValueError),
        ({"interval": -1}, ValueError),
        ({"repeat": 0}, ValueError),
        ({"next_run": "soon"}, ConfigurationError),
        ({"interval": 30, "cron_tz": "Europe/Paris"}, ConfigurationError),
        ({"cron_tz": "Mars/Olympus"}, ConfigurationError),
    ],
)
async def test_bad_modifications_change_nothing(queue: Queue, js: Any, changes: dict[str, Any], error: type) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="0 * * * *")
    before = await must_exist(js, handle.schedule_id)
    with pytest.raises(error):
        await handle.modify(**changes)
    assert await must_exist(js, handle.schedule_id) == before


async def test_a_one_off_run_can_only_have_its_next_run_changed(queue: Queue, js: Any) -> None:
    job = await queue.enqueue_in(60, FUNC, 1, 2)
    for changes in ({"cron": "0 * * * *"}, {"interval": 60}, {"repeat": 2}):
        with pytest.raises(ConfigurationError, match="one-off"):
            await queue.modify_scheduled_job(job.job_id, **changes)
    await queue.modify_scheduled_job(job.job_id, next_run=datetime(2031, 1, 1))
    record = await must_exist(js, job.job_id)
    assert record.one_off
    assert record.next_run_at == datetime(2031, 1, 1, tzinfo=UTC).timestamp()


# --- listing ----------------------------------------------------------------------------------------


async def test_list_scheduled_jobs_filters_by_status_and_queue_and_sorts_by_next_run(queue: Queue) -> None:
    url = queue.settings.nats_url
    emails = Queue("emails", settings=queue.settings)
    late = await queue.schedule(FUNC, 1, 2, interval=3000, schedule_id="late")
    soon = await emails.enqueue_in(100, FUNC, 1, 2, job_id="soon")
    middle = await emails.schedule(FUNC, 1, 2, interval=2000, schedule_id="middle")
    fixed = await queue.enqueue_at(datetime(2031, 1, 1), FUNC, 1, 2, job_id="fixed")
    await middle.pause()
    assert await ids_listed(nats_url=url) == [soon.job_id, middle.schedule_id, late.schedule_id, fixed.job_id]
    assert await ids_listed(status="paused", nats_url=url) == ["middle"]
    assert await ids_listed(status=ScheduleStatus.ACTIVE, nats_url=url) == ["soon", "late", "fixed"]
    assert await ids_listed(queue="emails", nats_url=url) == ["soon", "middle"]
    assert await ids_listed(status="active", queue="emails", nats_url=url) == ["soon"]
    assert await ids_listed(status="failed", nats_url=url) == []
    with pytest.raises(ValueError, match="bogus"):
        await list_scheduled_jobs(status="bogus", nats_url=url)


async def test_a_queues_list_shows_only_its_own_schedules(queue: Queue) -> None:
    emails = Queue("emails", settings=queue.settings)
    await queue.schedule(FUNC, 1, 2, interval=60, schedule_id="on-default")
    await emails.schedule(FUNC, 1, 2, interval=60, schedule_id="on-emails")
    await emails.enqueue_in(30, FUNC, 1, 2, job_id="once-on-emails")
    assert [r.schedule_id for r in await emails.list_scheduled_jobs()] == ["once-on-emails", "on-emails"]
    assert [r.schedule_id for r in await queue.list_scheduled_jobs()] == ["on-default"]
    assert await Queue("empty", settings=queue.settings).list_scheduled_jobs() == []
    await emails.pause_scheduled_job("on-emails")
    assert [r.schedule_id for r in await emails.list_scheduled_jobs("paused")] == ["on-emails"]


# --- cancel_job of a one-off run not yet fired ------------------------------------------------------


async def test_cancel_job_cancels_a_pending_one_off_run(queue: Queue, js: Any) -> None:
    url = queue.settings.nats_url
    job = await queue.enqueue_in(60, FUNC, 1, 2)
    assert await cancel_job(job.job_id, nats_url=url) is True
    assert await schedule_record(js, job.job_id) is None
    assert await list_scheduled_jobs(nats_url=url) == []
    with pytest.raises(JobCancelledError):
        await job.result(timeout=5)
    assert await cancel_job(job.job_id, nats_url=url) is False


# --- compare-and-set ------------------------------------------------------------------------------


async def test_a_change_made_between_a_read_and_a_write_is_not_overwritten(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    connection = await get_connection(queue.settings)
    read = await read_schedule(connection, handle.schedule_id)
    assert read is not None
    record, revision = read
    await handle.pause()  # lands after the read, before the write
    seen: list[ScheduleRecord] = []

    def set_repeat(current: ScheduleRecord) -> ScheduleRecord:
        seen.append(current)
        return dataclasses.replace(current, repeat=5)

    result = await change_schedule(connection, handle.schedule_id, set_repeat, revision, record)
    assert result is not None
    final = await must_exist(js, handle.schedule_id)
    assert (final.status, final.repeat) == (ScheduleStatus.PAUSED, 5)
    assert result[0] == final
    # The stale write lost, the record was read again and the change re-applied to it.
    assert [r.status for r in seen] == [ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED]


async def test_concurrent_pauses_and_modifies_all_take_effect(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, cron="0 3 * * *")
    before = time.time()
    calls = []
    for _ in range(10):
        calls += [handle.pause(), handle.modify(repeat=7), handle.modify(cron_tz="Europe/Paris")]
    results = await asyncio.gather(*calls, return_exceptions=True)
    after = time.time()
    assert [r for r in results if isinstance(r, BaseException)] == []
    record = await must_exist(js, handle.schedule_id)
    assert (record.status, record.repeat, record.cron, record.cron_tz) == (
        ScheduleStatus.PAUSED,
        7,
        "0 3 * * *",
        "Europe/Paris",
    )
    paris = Cadence(cron="0 3 * * *", cron_tz="Europe/Paris")
    assert record.next_run_at in {paris.next_after(before), paris.next_after(after)}


async def test_a_hundred_concurrent_modifies_of_one_schedule_all_succeed(queue: Queue, js: Any) -> None:
    # Contention only delays a compare-and-set change; it must not make a valid change fail.
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    results = await asyncio.gather(*(handle.modify(interval=10 + i) for i in range(100)), return_exceptions=True)
    assert [type(r).__name__ for r in results if isinstance(r, BaseException)] == []
    assert (await must_exist(js, handle.schedule_id)).interval in {10.0 + i for i in range(100)}


async def test_a_cancelled_schedule_is_never_written_back(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    connection = await get_connection(queue.settings)
    read = await read_schedule(connection, handle.schedule_id)
    assert read is not None
    assert await handle.cancel()
    # A writer that read the record before the cancel loses its write and finds nothing to change.
    stale = await change_schedule(
        connection, handle.schedule_id, lambda r: dataclasses.replace(r, repeat=3), read[1], read[0]
    )
    assert stale is None
    with pytest.raises(JobNotFoundError):
        await handle.modify(interval=30)
    assert await handle.pause() is False
    assert await handle.resume() is False
    assert await schedule_record(js, handle.schedule_id) is None
    assert await list_scheduled_jobs(nats_url=queue.settings.nats_url) == []


async def test_a_cancel_racing_modifies_leaves_no_record(queue: Queue, js: Any) -> None:
    handle = await queue.schedule(FUNC, 1, 2, interval=60)
    modifies = [handle.modify(interval=10 + i) for i in range(10)]
    results = await asyncio.gather(*modifies[:5], handle.cancel(), *modifies[5:], return_exceptions=True)
    assert results[5] is True
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, JobNotFoundError)]
    assert unexpected == []
    assert await schedule_record(js, handle.schedule_id) is None


# --- the _sync twins ------------------------------------------------------------------------------


@pytest.fixture
def sync_api(nats_url: str) -> Iterator[str]:
    """The URL for the sync twins; their background loop's naq connections are closed before and after."""
    run_sync(naq.client.close())
    yield nats_url
    run_sync(naq.client.close())


def test_the_sync_twins_schedule_and_control(sync_api: str) -> None:
    url = sync_api
    once = enqueue_in_sync(60, FUNC, 1, 2, nats_url=url)
    at = enqueue_at_sync(datetime(2031, 1, 1), FUNC, 1, 2, queue_name="emails", nats_url=url)
    handle = schedule_sync(FUNC, 1, 2, interval=600, schedule_id="sync-schedule", nats_url=url)
    listed = list_scheduled_jobs_sync(nats_url=url)
    assert [r.schedule_id for r in listed] == [once.job_id, handle.schedule_id, at.job_id]
    assert [r.schedule_id for r in list_scheduled_jobs_sync(queue="emails", nats_url=url)] == [at.job_id]
    assert pause_scheduled_job_sync(handle.schedule_id, nats_url=url) is True
    assert [r.schedule_id for r in list_scheduled_jobs_sync("paused", nats_url=url)] == ["sync-schedule"]
    assert resume_scheduled_job_sync(handle.schedule_id, nats_url=url) is True
    record = modify_scheduled_job_sync(handle.schedule_id, nats_url=url, cron="0 * * * *")
    assert (record.cron, record.interval, record.status) == ("0 * * * *", None, ScheduleStatus.ACTIVE)
    assert cancel_scheduled_job_sync(handle.schedule_id, nats_url=url) is True
    assert cancel_scheduled_job_sync(handle.schedule_id, nats_url=url) is False
    with pytest.raises(JobNotFoundError):
        modify_scheduled_job_sync(handle.schedule_id, nats_url=url, interval=5)


def test_the_handle_schedule_sync_returns_blocks_on_every_method(sync_api: str) -> None:
    handle = schedule_sync(FUNC, 1, 2, interval=600, schedule_id="sync-handle", nats_url=sync_api)
    assert (handle.schedule_id, handle.job_id, handle.queue) == ("sync-handle", "sync-handle", "default")
    assert handle.info().interval == 600.0
    assert handle.pause() is True
    assert handle.info().status == ScheduleStatus.PAUSED
    assert handle.resume() is True
    assert handle.modify(interval=900).interval == 900.0
    assert handle.cancel() is True
    assert handle.cancel() is False
    with pytest.raises(JobNotFoundError):
        handle.info()


async def test_the_sync_twins_work_from_a_running_loops_thread_pool(sync_api: str, js: Any) -> None:
    handle = await asyncio.to_thread(schedule_sync, FUNC, 1, 2, cron="*/5 * * * *", nats_url=sync_api)
    assert await asyncio.to_thread(pause_scheduled_job_sync, handle.schedule_id, sync_api) is True
    assert (await must_exist(js, handle.schedule_id)).status == ScheduleStatus.PAUSED


# --- test mode (inline_jobs): no NATS ---------------------------------------------------------------


async def test_inline_enqueue_in_and_enqueue_at_run_at_once() -> None:
    with inline_jobs() as runner:
        later = await enqueue_in(3600, echo, 1, b=2)
        at = await Queue("emails").enqueue_at(datetime(2031, 1, 1), echo, 3, timeout=5, func_kwargs={"timeout": 6})
        assert runner.ran == [later.job_id, at.job_id]
        assert await later.result() == {"args": [1], "kwargs": {"b": 2}}
        assert await at.result() == {"args": [3], "kwargs": {"timeout": 6}}
        assert runner.schedules == {}
        assert await list_scheduled_jobs() == []
        with pytest.raises(ConfigurationError, match="json"):
            await enqueue_in(5, echo, 1, serializer="pickle")


async def test_inline_schedule_records_without_running_and_control_acts_on_the_records() -> None:
    with inline_jobs() as runner:
        handle = await schedule(echo, 1, interval=60, schedule_id="inline-every-minute")
        cron = await schedule(echo, 2, cron="*/5 * * * *", queue_name="emails")
        assert runner.ran == []
        assert set(runner.schedules) == {"inline-every-minute", cron.schedule_id}
        assert [r.schedule_id for r in await list_scheduled_jobs(queue="emails")] == [cron.schedule_id]
        with pytest.raises(ConfigurationError, match="already exists"):
            await schedule(echo, 1, interval=60, schedule_id="inline-every-minute")

        assert await pause_scheduled_job("inline-every-minute") is True
        assert runner.schedules["inline-every-minute"].status == ScheduleStatus.PAUSED
        assert [r.schedule_id for r in await list_scheduled_jobs(status="paused")] == ["inline-every-minute"]
        assert await resume_scheduled_job("inline-every-minute") is True
        assert runner.schedules["inline-every-minute"].status == ScheduleStatus.ACTIVE

        record = await modify_scheduled_job("inline-every-minute", cron="0 * * * *")
        assert runner.schedules["inline-every-minute"] == record
        assert (record.cron, record.interval) == ("0 * * * *", None)
        with pytest.raises(ConfigurationError, match="cannot modify"):
            await handle.modify(queue="other")

        assert await cancel_scheduled_job("inline-every-minute") is True
        assert "inline-every-minute" not in runner.schedules
        assert await cancel_scheduled_job("inline-every-minute") is False
        assert await pause_scheduled_job("inline-every-minute") is False
        with pytest.raises(JobNotFoundError):
            await modify_scheduled_job("inline-every-minute", interval=5)
        assert runner.ran == []
