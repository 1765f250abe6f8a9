"""Records cut to fit a message (issue 9, items 2 and 3): text cuts, errors, raw dead letters."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naq.protocol import (
    ErrorInfo,
    EventRecord,
    FailedJobRecord,
    JobEnvelope,
    ScheduleRecord,
    ScheduleStatus,
    SerializationError,
    UndecodableMessageRecord,
    WorkerHeartbeat,
    message_size,
)
from naq.protocol.results import encode_fitted
from naq.protocol.schedule import LAST_ERROR_BYTES
from naq.protocol.sizes import json_text_size, truncate_text

MARK = "... [truncated from"


@given(text=st.text(max_size=400), budget=st.integers(min_value=0, max_value=500), keep_end=st.booleans())
def test_a_cut_text_fits_its_budget_and_says_it_was_cut(text: str, budget: int, keep_end: bool) -> None:
    cut = truncate_text(text, budget, keep_end=keep_end)
    if json_text_size(text) <= budget:
        assert cut == text
        return
    assert json_text_size(cut) <= budget
    size = len(text.encode("utf-8", "surrogatepass"))
    assert cut == "" or f"{MARK} {size} bytes]" in cut


def test_a_cut_keeps_the_start_and_with_keep_end_the_end_too() -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    head = truncate_text(text, 200)
    assert head.startswith("line 0\nline 1\n")
    assert head.endswith(f"{MARK} {len(text)} bytes]")
    both = truncate_text(text, 200, keep_end=True)
    assert both.startswith("line 0\n")
    assert both.endswith("line 999\n")
    assert f"\n{MARK} {len(text)} bytes]\n" in both
    assert truncate_text(text, 10) == "", "not even the mark fits"


def test_json_escapes_count_in_the_budget() -> None:
    text = '"\\\x00' * 1000  # 2, 2 and 6 bytes in JSON for each character
    cut = truncate_text(text, 300)
    assert len(json.dumps(cut, ensure_ascii=False)) - 2 <= 300
    assert cut.startswith('"\\\x00')


def test_an_error_is_cut_to_its_room_message_first() -> None:
    error = ErrorInfo(type="m:E", message="m" * 10_000, traceback="t" * 10_000)
    fitted = error.fitted(4000)
    assert json_text_size(fitted.message) + json_text_size(fitted.traceback) <= 4000
    assert fitted.message.startswith("m" * 1500)
    assert MARK in fitted.message
    assert MARK in fitted.traceback
    assert fitted.traceback.endswith("t" * 100)
    short = ErrorInfo(type="m:E", message="short", traceback="t" * 10_000)
    assert short.fitted(4000).message == "short"
    assert json_text_size(short.fitted(4000).traceback) <= 4000 - 5
    assert error.fitted(100_000) is error


def envelope() -> JobEnvelope:
    return JobEnvelope(job_id="j1", queue="default", function="m:f", payload={"args": [], "kwargs": {}}, enqueued_at=1)


def test_a_dead_letter_record_with_a_huge_error_is_encoded_within_the_limit() -> None:
    error = ErrorInfo(type="m:E", message="é" * 3_000_000, traceback="x" * 3_000_000)

    def build(fitted: ErrorInfo) -> FailedJobRecord:
        return FailedJobRecord(job=envelope(), error=fitted, attempts=1, failed_at=1.0)

    headers = {"Nats-TTL": "60"}
    data = encode_fitted(build, error, 1024 * 1024, headers)
    assert message_size(data, headers) <= 1024 * 1024
    record = FailedJobRecord.decode(data)
    assert record.job == envelope()
    assert record.error.message.startswith("é" * 1000)
    assert f"{MARK} 6000000 bytes]" in record.error.message
    small = ErrorInfo(type="m:E", message="fine")
    assert encode_fitted(build, small, 1024 * 1024) == build(small).encode()


def raw(data: bytes, headers: dict[str, str] | None = None, limit: int = 4096) -> UndecodableMessageRecord:
    return UndecodableMessageRecord.of_message(
        queue="default",
        subject="naq.queue.default",
        stream_sequence=7,
        data=data,
        headers=headers or {},
        error=ErrorInfo(type="m:E", message="not a job"),
        failed_at=1.0,
        limit=limit,
    )


@pytest.mark.parametrize("size", [0, 10, 2000, 3000, 4096, 100_000])
def test_a_raw_dead_letter_keeps_what_fits_with_the_size_and_digest_of_the_whole(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    record = raw(data, {"Nats-Msg-Id": "x"})
    encoded = record.encode()
    assert len(encoded) <= 4096
    assert UndecodableMessageRecord.decode(encoded) == record
    kept = base64.b64decode(record.data)
    assert data.startswith(kept)
    assert record.original_size == size
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.truncated == (len(kept) < size)
    assert record.headers == {"Nats-Msg-Id": "x"}
    if record.truncated:
        assert len(encoded) > 4096 - 4, "as much as fits is kept"


def test_headers_that_alone_do_not_fit_are_left_out() -> None:
    record = raw(b"abc", {"Big": "h" * 10_000})
    assert len(record.encode()) <= 4096
    assert record.headers == {}
    assert record.original_size == 3
    assert not record.truncated


def test_a_raw_record_written_before_size_and_digest_still_decodes() -> None:
    old = {
        "v": 1,
        "record": "undecodable",
        "queue": "default",
        "subject": "naq.queue.default",
        "stream_sequence": 3,
        "data": base64.b64encode(b"junk").decode(),
        "headers": {},
        "error": {"type": "m:E", "message": "bad", "traceback": ""},
        "failed_at": 1.0,
    }
    record = UndecodableMessageRecord.decode(json.dumps(old))
    assert record.original_size is None
    assert record.sha256 is None
    assert not record.truncated
    with pytest.raises(SerializationError, match="sha256"):
        UndecodableMessageRecord.decode(json.dumps({**old, "sha256": "not-hex"}))
    with pytest.raises(SerializationError, match="original_size"):
        UndecodableMessageRecord.decode(json.dumps({**old, "original_size": -1}))


# --- records fitted by count: event batches, heartbeats; schedules measured at their widest ------


@given(count=st.integers(min_value=2, max_value=300), limit=st.integers(min_value=600, max_value=6000))
def test_a_batch_event_is_split_into_parts_that_fit_and_together_name_every_job(count: int, limit: int) -> None:
    ids = [f"{'j' * 40}{i:05d}" for i in range(count)]
    event = EventRecord(
        kind="completed",
        queue="default",
        at=1.0,
        worker_id="w-1",
        data={"job_ids": ids, "count": count, "attempts": [1] * count, "durations": [0.5] * count},
    )
    parts = event.fitted(limit)
    assert all(len(part.encode()) <= limit for part in parts)
    assert [i for part in parts for i in part.job_ids] == ids
    for part in parts:
        assert part.data["count"] == len(part.job_ids) == len(part.data["attempts"]) == len(part.data["durations"])
    assert (parts == [event]) == (len(event.encode()) <= limit)


def test_an_event_error_is_cut_to_fit_and_one_that_cannot_fit_is_left_out() -> None:
    event = EventRecord(kind="failed", queue="default", at=1.0, job_id="j", data={"error": "e" * 10_000})
    [part] = event.fitted(2000)
    assert len(part.encode()) <= 2000
    assert part.data["error"].startswith("e" * 100)
    assert f"{MARK} 10000 bytes]" in part.data["error"]
    assert EventRecord(kind="failed", queue="default", at=1.0, data={"n": list(range(1000))}).fitted(500) == []


def test_a_heartbeat_lists_the_first_running_jobs_that_fit() -> None:
    jobs = tuple(f"{'r' * 60}{i:04d}" for i in range(200))
    beat = WorkerHeartbeat(
        worker_id="w-1", hostname="h", pid=1, queues=("default",), status="busy", concurrency=200,
        started_at=1.0, heartbeat_at=2.0, current_jobs=jobs,
    )  # fmt: skip
    for limit in (1000, 4096, 8192, 8193, 8194):
        fitted = beat.fitted(limit)
        assert len(fitted.encode()) <= limit
        assert fitted.current_jobs == jobs[: len(fitted.current_jobs)]
        longer = dataclasses.replace(fitted, current_jobs=jobs[: len(fitted.current_jobs) + 1])
        assert len(longer.encode()) > limit, "as many as fit"
        assert fitted.status == "busy"
    assert beat.fitted(10**6) is beat


def test_a_schedule_at_its_widest_holds_every_later_version_of_it() -> None:
    payload = {"args": [], "kwargs": {}}
    job = JobEnvelope(job_id="s-1", queue="default", function="m:f", payload=payload, enqueued_at=1.0)
    record = ScheduleRecord(schedule_id="s-1x", job=job, next_run_at=1.0, created_at=1.0, interval=60.0)
    widest = len(record.widest().encode())
    later = [
        record.with_error("boom " * 10_000, failures=10, status=ScheduleStatus.FAILED),
        dataclasses.replace(record, runs=123_456, last_run_at=1.8e9, pending_run_at=1.8e9, next_run_at=1.8e9),
        record.with_error("x" * 5000, runs=10**9, last_run_at=1.8e9 + 0.123456, pending_run_at=1.8e9 + 0.654321),
    ]
    for version in later:
        assert len(version.encode()) <= widest
    assert json_text_size(later[0].last_error or "") <= LAST_ERROR_BYTES
