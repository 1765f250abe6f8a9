"""Reading back the ``Nats-Schedule`` header naq writes (``parse_schedule_at``, for ``naq status``)."""

from __future__ import annotations

import math

import pytest

from naq.protocol.subjects import parse_schedule_at, schedule_at


@pytest.mark.parametrize("when", [0, 1_700_000_000, 1_700_000_000.25, 4_102_444_799.9])
def test_the_time_of_a_schedule_header_reads_back_whole_seconds_rounded_up(when: float) -> None:
    assert parse_schedule_at(schedule_at(when)) == math.ceil(when)


@pytest.mark.parametrize("value", ["", "@every 1s", "@at", "@at not-a-time", "0 * * * *"])
def test_any_other_header_value_reads_as_none(value: str) -> None:
    assert parse_schedule_at(value) is None
