"""ResultRecord's constructors: one per way a job ends, shared by the worker, cancel_job and test mode."""

from __future__ import annotations

import time

import pytest

from naq.protocol import (
    DependencyOutcome,
    ErrorInfo,
    JobEnvelope,
    JobTimeoutError,
    ResultRecord,
)

JOB = JobEnvelope(
    job_id="j1", queue="q1", function="m:f", payload={"args": [], "kwargs": {}}, enqueued_at=1.0, serializer="pickle"
)


def _round_trip(record: ResultRecord) -> ResultRecord:
    decoded = ResultRecord.decode(record.encode())
    assert decoded == record
    return decoded


def test_completed_carries_the_value_and_the_job() -> None:
    before = time.time()
    record = _round_trip(ResultRecord.completed(JOB, "c3RvcmVk", attempts=2, started_at=before, worker_id="w1"))
    assert (record.job_id, record.queue, record.status, record.attempts) == ("j1", "q1", "completed", 2)
    assert (record.value, record.serializer, record.worker_id, record.error) == ("c3RvcmVk", "pickle", "w1", None)
    assert record.started_at == before <= record.finished_at <= time.time()
    given = ResultRecord.completed(JOB, 1, attempts=1, started_at=0.0, worker_id=None, finished_at=5.0)
    assert given.finished_at == 5.0


def test_failed_describes_an_exception_by_its_wire_name() -> None:
    try:
        raise JobTimeoutError.after(0.5)
    except JobTimeoutError as exc:
        record = _round_trip(ResultRecord.failed(JOB, exc, attempts=3, started_at=1.0, worker_id="w1"))
    assert (record.status, record.attempts, record.started_at) == ("failed", 3, 1.0)
    assert record.error is not None
    assert record.error.type == "naq.worker:JobTimeoutError"
    assert record.error.message == "job exceeded its timeout of 0.5 s and was cancelled"
    assert "JobTimeoutError" in record.error.traceback


def test_failed_keeps_an_error_info_as_given() -> None:
    info = ErrorInfo(type="m:E", message="boom", traceback="tb")
    record = _round_trip(ResultRecord.failed(JOB, info, attempts=0))
    assert record.error == info
    assert (record.started_at, record.worker_id) == (None, None)


def test_cancelled_needs_only_an_id_and_a_queue() -> None:
    record = _round_trip(ResultRecord.cancelled("j2", "q2"))
    assert (record.status, record.attempts, record.serializer) == ("cancelled", 0, "json")
    assert record.error == ErrorInfo(type="naq.client:JobCancelledError", message="job j2 was cancelled")
    running = ResultRecord.cancelled("j2", "q2", serializer="pickle", attempts=1, started_at=2.0, worker_id="w")
    assert (running.attempts, running.started_at, running.worker_id, running.serializer) == (1, 2.0, "w", "pickle")


@pytest.mark.parametrize(
    ("outcome", "how"),
    [
        (DependencyOutcome.FAILED, "failed"),
        (DependencyOutcome.CANCELLED, "was cancelled"),
        (DependencyOutcome.TIMEOUT, "did not end within the job's dependency_timeout"),
        ("cancelled", "was cancelled"),  # a result status names the same outcome
    ],
)
def test_a_dependency_failure_names_the_dependency_and_how_it_ended(outcome: DependencyOutcome, how: str) -> None:
    info = ErrorInfo.dependency_failed("j1", "parent", outcome)
    assert info.type == "naq.client:DependencyFailedError"
    assert info.message == f"dependency parent {how}; job j1 did not run"


def test_the_checks_still_hold_where_the_values_come_from_outside() -> None:
    with pytest.raises(ValueError, match="job id"):
        ResultRecord.cancelled("bad id", "q")
    with pytest.raises(ValueError, match="attempts"):
        ResultRecord.failed(JOB, ErrorInfo(type="m:E", message=""), attempts=-1)
