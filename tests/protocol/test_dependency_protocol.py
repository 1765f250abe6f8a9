"""The dependency verdict header, the parked-job record's checks, and the names dependencies use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naq.protocol import (
    DependencyOutcome,
    DependencyVerdict,
    EventKind,
    JobEnvelope,
    JobStatus,
    ParkedJobRecord,
    Verdict,
)
from naq.protocol.names import EVENT_JOB_STATUS
from naq.protocol.subjects import control_filter, dependency_deadline_subject, waiting_filter

_JOB = JobEnvelope(job_id="child", queue="q", function="m:f", payload=None, enqueued_at=0.0, depends_on=("p",))


@pytest.mark.parametrize(
    ("verdict", "header"),
    [
        (DependencyVerdict.met(), "met"),
        (DependencyVerdict.cancelled(), "cancelled"),
        (DependencyVerdict.failed("parent-1", DependencyOutcome.FAILED), "failed parent-1 failed"),
        (DependencyVerdict.failed("p_2", DependencyOutcome.TIMEOUT), "failed p_2 timeout"),
        (DependencyVerdict.deadline(1_700_000_000_000_000_000), "deadline 1700000000000000000"),
    ],
)
def test_verdict_headers_round_trip(verdict: DependencyVerdict, header: str) -> None:
    assert verdict.header() == header
    assert DependencyVerdict.parse(header) == verdict


@pytest.mark.parametrize(
    "header",
    [None, "", "MET", "met extra", "failed", "failed p", "failed p exploded", "failed bad!id failed", "deadline x"],
)
def test_unreadable_verdicts_mean_check_again(header: str | None) -> None:
    assert DependencyVerdict.parse(header) is None


@given(st.text(max_size=60))
def test_parsing_any_header_never_raises(header: str) -> None:
    verdict = DependencyVerdict.parse(header)
    assert verdict is None or isinstance(verdict.verdict, Verdict)


def test_a_parked_record_needs_dependencies_and_a_generation() -> None:
    with pytest.raises(ValueError, match="no dependencies"):
        ParkedJobRecord(
            job=JobEnvelope(job_id="x", queue="q", function="m:f", payload=None, enqueued_at=0.0),
            generation=1,
            parked_at=0.0,
            deadline=1.0,
        )
    with pytest.raises(ValueError, match="generation"):
        ParkedJobRecord(job=_JOB, generation=0, parked_at=0.0, deadline=1.0)
    assert (
        ParkedJobRecord.decode(ParkedJobRecord(job=_JOB, generation=3, parked_at=1.0, deadline=2.0).encode()).job
        == _JOB
    )


def test_names_of_dependencies_and_control() -> None:
    assert dependency_deadline_subject("job-1") == "naq.delayed.job-1.deadline"
    assert control_filter("cancel") == "naq.control.cancel.*"
    assert waiting_filter("parent-1") == "$KV.naq_waiting.parent-1.*"
    with pytest.raises(ValueError, match="bad id"):
        dependency_deadline_subject("bad id")


def test_every_event_kind_maps_to_a_status() -> None:
    assert set(EVENT_JOB_STATUS) == set(EventKind)
    assert EVENT_JOB_STATUS[EventKind.WAITING] is JobStatus.WAITING
    assert EVENT_JOB_STATUS[EventKind.STARTED] is JobStatus.RUNNING
