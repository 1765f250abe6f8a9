"""Ids are validated at the call; subjects, keys and message ids are built as BRIEF §3 spells them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naq.protocol import names
from naq.protocol.ids import (
    ID_PATTERN,
    new_job_id,
    validate_job_id,
    validate_queue_name,
    validate_schedule_id,
    validate_worker_id,
)
from naq.protocol.subjects import (
    consumer_name,
    control_subject,
    delayed_subject,
    derived_message_id,
    event_subject,
    failed_queue_filter,
    failed_subject,
    kv_key_subject,
    parse_derived_message_id,
    queue_subject,
    result_subject,
    run_now_job_id,
    schedule_at,
    schedule_run_job_id,
    system_event_subject,
    undecodable_subject,
    waiting_key,
    waiting_prefix,
)

VALIDATORS = [validate_queue_name, validate_job_id, validate_schedule_id, validate_worker_id]
BAD_IDS = ["", "a.b", "a b", "a:b", "a*", "a>", "ü", "x" * 65, "tab\t", "new\nline", None, 7, b"bytes"]


@pytest.mark.parametrize("validate", VALIDATORS)
@pytest.mark.parametrize("good", ["default", "a", "A-Z_0-9", "x" * 64, "_sysx", "-"])
def test_valid_ids_pass_through(validate, good: str) -> None:
    assert validate(good) == good


@pytest.mark.parametrize("validate", VALIDATORS)
@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_are_a_value_error_naming_the_value(validate, bad: object) -> None:
    with pytest.raises(ValueError, match=r"invalid|must be a string") as info:
        validate(bad)
    assert repr(bad) in str(info.value)


def test_sys_is_reserved_for_queues_only() -> None:
    with pytest.raises(ValueError, match="reserved"):
        validate_queue_name("_sys")
    assert validate_job_id("_sys") == "_sys"


def test_new_job_ids_are_valid_and_distinct() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(ID_PATTERN.fullmatch(job_id) for job_id in ids)


def test_subjects_and_names_as_the_brief_spells_them() -> None:
    assert queue_subject("emails") == "naq.queue.emails"
    assert consumer_name("emails") == "naq-worker-emails"
    assert delayed_subject("j1", 2) == "naq.delayed.j1.2"
    assert failed_subject("emails", "j1") == "naq.failed.emails.j1"
    assert undecodable_subject("emails", 42) == "naq.failed.emails._raw.42"
    assert failed_queue_filter("emails") == "naq.failed.emails.>"
    assert failed_queue_filter() == "naq.failed.>"
    assert event_subject("emails", names.EventKind.COMPLETED) == "naq.events.emails.completed"
    assert system_event_subject(names.SystemEventKind.WORKER_STARTED) == "naq.events._sys.worker_started"
    assert control_subject(names.ControlCommand.CANCEL, "j1") == "naq.control.cancel.j1"
    assert result_subject("j1") == "$KV.naq_results.j1"
    assert kv_key_subject(names.WORKERS_BUCKET, "w-1") == "$KV.naq_workers.w-1"
    assert waiting_key("parent", "child") == "parent.child"
    assert waiting_prefix("parent") == "parent.*"
    assert names.JOBS_STREAM == "naq_jobs"
    assert names.FAILED_JOBS_STREAM == "naq_failed_jobs"
    assert names.EVENTS_STREAM == "naq_events"
    assert (names.RESULTS_BUCKET, names.JOB_STATUS_BUCKET, names.WAITING_BUCKET) == (
        "naq_results",
        "naq_job_status",
        "naq_waiting",
    )
    assert (names.SCHEDULES_BUCKET, names.SCHEDULER_LOCK_BUCKET, names.LEADER_LOCK_KEY) == (
        "naq_scheduled_jobs",
        "naq_scheduler_lock",
        "leader_lock",
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: queue_subject("a.b"),
        lambda: queue_subject("_sys"),
        lambda: consumer_name("q*"),
        lambda: delayed_subject("j", -1),
        lambda: delayed_subject("j", True),
        lambda: failed_subject("q", "j>"),
        lambda: undecodable_subject("q", -5),
        lambda: event_subject("q", "bad kind"),
        lambda: control_subject("explode", "j"),
        lambda: result_subject("a:b"),
        lambda: waiting_key("a", "b.c"),
        lambda: kv_key_subject("bad bucket", "k"),
        lambda: kv_key_subject("b", ".k"),
        lambda: derived_message_id("j", "teleport", 1),
        lambda: derived_message_id("j", "retry", -1),
    ],
)
def test_builders_reject_bad_parts(build) -> None:
    with pytest.raises(ValueError, match=r"invalid|must be|not a valid"):
        build()


def test_derived_message_ids_round_trip() -> None:
    message_id = derived_message_id("job-1", names.MessagePurpose.RETRY, 3)
    assert message_id == "job-1.retry.3"
    assert parse_derived_message_id(message_id) == ("job-1", names.MessagePurpose.RETRY, 3)
    for not_derived in ["job-1", "job-1.retry", "job-1.retry.x", "job-1.nope.1", "a.b.c.d", "bad id.retry.1"]:
        assert parse_derived_message_id(not_derived) is None


@given(st.from_regex(ID_PATTERN, fullmatch=True), st.sampled_from(list(names.MessagePurpose)), st.integers(0, 10**9))
def test_every_derived_id_parses_back(job_id: str, purpose: names.MessagePurpose, n: int) -> None:
    assert parse_derived_message_id(derived_message_id(job_id, purpose, n)) == (job_id, purpose, n)


def test_schedule_at_is_rfc3339_utc_rounded_up_to_whole_seconds() -> None:
    assert schedule_at(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "@at 2026-01-02T03:04:05Z"
    assert schedule_at(datetime(2026, 1, 2, 3, 4, 5, 1)) == "@at 2026-01-02T03:04:06Z"  # naive = UTC
    plus_two = timezone(timedelta(hours=2))
    assert schedule_at(datetime(2026, 1, 2, 5, 4, 5, tzinfo=plus_two)) == "@at 2026-01-02T03:04:05Z"
    assert schedule_at(0.5) == "@at 1970-01-01T00:00:01Z"
    for bad in [float("nan"), float("inf"), "tomorrow", True]:
        with pytest.raises(ValueError, match="time must be"):
            schedule_at(bad)  # type: ignore[arg-type]


@given(
    st.from_regex(ID_PATTERN, fullmatch=True),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(1, 10**6),
)
def test_schedule_run_ids_are_valid_deterministic_and_distinct_per_run(
    schedule_id: str, run_time: datetime, step_ms: int
) -> None:
    first = schedule_run_job_id(schedule_id, run_time)
    assert ID_PATTERN.fullmatch(first)
    assert schedule_run_job_id(schedule_id, run_time.replace(tzinfo=UTC)) == first
    assert schedule_run_job_id(schedule_id, run_time + timedelta(milliseconds=step_ms)) != first


def test_long_schedule_ids_stay_distinct_after_shortening() -> None:
    a, b = "s" * 63 + "a", "s" * 63 + "b"
    assert schedule_run_job_id(a, 1_700_000_000) != schedule_run_job_id(b, 1_700_000_000)


@pytest.mark.parametrize("schedule_id", ["daily", "s" * 64])
def test_a_run_now_id_is_a_valid_id_never_equal_to_a_due_run_s(schedule_id: str) -> None:
    called_at = 1_700_000_000.123
    extra = run_now_job_id(schedule_id, called_at)
    assert ID_PATTERN.fullmatch(extra)
    assert extra.endswith("-n1700000000123")
    assert extra != schedule_run_job_id(schedule_id, called_at)
    assert run_now_job_id(schedule_id, called_at + 0.001) != extra
    if len(schedule_id) < 40:
        assert extra == f"{schedule_id}-n1700000000123"
    with pytest.raises(ValueError, match="schedule id"):
        run_now_job_id("a.b", called_at)


def test_process_ids_are_valid_worker_ids_and_differ_per_call() -> None:
    from naq.protocol.ids import process_id, validate_worker_id

    first, second = process_id(), process_id()
    assert validate_worker_id(first) == first
    assert first != second
