"""When schedules fall due: cron (5 and 6 fields, time zones, DST), intervals, catch-up, and the checks at the call.

Pure: no NATS. Wall times are written as UTC or New York datetimes and compared as Unix seconds,
so a failing assertion shows both sides as readable times (see :func:`shown`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import CroniterError, croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from naq.client import ConfigurationError
from naq.client._cadence import Cadence, check_cron, check_interval, check_repeat, parse_time

NEW_YORK = "America/New_York"
_NY = ZoneInfo(NEW_YORK)


def utc(*fields: int) -> float:
    """Unix seconds of a UTC wall time given as ``datetime`` fields."""
    return datetime(*fields, tzinfo=UTC).timestamp()


def new_york(*fields: int, fold: int = 0) -> float:
    """Unix seconds of a New York wall time (``fold=1``: the second occurrence of a repeated time)."""
    return datetime(*fields, tzinfo=_NY, fold=fold).timestamp()


def shown(t: float | None) -> str:
    """A due time as UTC and New York wall times, for readable assertion messages."""
    if t is None:
        return "None"
    return f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S}Z ({datetime.fromtimestamp(t, _NY):%H:%M:%S %Z})"


def due_times(cadence: Cadence, start: float, count: int) -> list[str]:
    """The next ``count`` due times strictly after ``start``, as :func:`shown` strings."""
    found = []
    t: float | None = start
    for _ in range(count):
        assert t is not None
        t = cadence.next_after(t)
        found.append(shown(t))
    return found


@pytest.fixture
def machine_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is Asia/Tokyo for the test (restored afterwards)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- cron, in UTC -------------------------------------------------------------------------------


def test_six_field_cron_with_seconds_last_runs_at_the_next_matching_second() -> None:
    # The documented example: "* * * * * */10" (seconds last, croniter's convention) is every 10 seconds.
    cadence = Cadence(cron="* * * * * */10")
    assert shown(cadence.next_after(utc(2024, 1, 1, 0, 0, 0))) == shown(utc(2024, 1, 1, 0, 0, 10))
    assert shown(cadence.next_after(utc(2024, 1, 1, 0, 0, 5) + 0.5)) == shown(utc(2024, 1, 1, 0, 0, 10))
    assert shown(cadence.next_after(utc(2024, 1, 1, 0, 0, 9) + 0.999)) == shown(utc(2024, 1, 1, 0, 0, 10))
    assert due_times(cadence, utc(2024, 1, 1, 0, 0, 10), 3) == [shown(utc(2024, 1, 1, 0, 0, s)) for s in (20, 30, 40)]


def test_in_a_six_field_cron_the_first_field_is_still_the_minute() -> None:
    # "*/10 * * * * *" is every second of minutes 0, 10, 20...: not every 10 seconds.
    cadence = Cadence(cron="*/10 * * * * *")
    assert due_times(cadence, utc(2024, 1, 1, 0, 0, 0), 2) == [shown(utc(2024, 1, 1, 0, 0, s)) for s in (1, 2)]
    assert shown(cadence.next_after(utc(2024, 1, 1, 0, 0, 59))) == shown(utc(2024, 1, 1, 0, 10, 0))


def test_six_field_catch_up_is_the_latest_missed_second() -> None:
    cadence = Cadence(cron="* * * * * */10")
    assert cadence.latest_due(utc(2024, 1, 1, 0, 0, 10), utc(2024, 1, 1, 0, 0, 35)) == utc(2024, 1, 1, 0, 0, 30)
    assert cadence.latest_due(utc(2024, 1, 1, 0, 0, 10), utc(2024, 1, 1, 0, 0, 40)) == utc(2024, 1, 1, 0, 0, 40)


def test_five_field_cron_runs_at_the_next_matching_utc_minute() -> None:
    every_five = Cadence(cron="*/5 * * * *")
    assert every_five.next_after(utc(2024, 1, 1, 0, 0)) == utc(2024, 1, 1, 0, 5)  # strictly after
    assert every_five.next_after(utc(2024, 1, 1, 0, 4, 59) + 0.9) == utc(2024, 1, 1, 0, 5)
    assert every_five.next_after(utc(2024, 1, 1, 0, 5) + 0.1) == utc(2024, 1, 1, 0, 10)
    mondays_at_nine = Cadence(cron="0 9 * * 1")
    # 2024-01-03 is a Wednesday; the next Monday is the 8th.
    assert mondays_at_nine.next_after(utc(2024, 1, 3, 12, 0)) == utc(2024, 1, 8, 9, 0)


def test_a_cron_schedules_first_run_is_the_next_match_after_now() -> None:
    cadence = Cadence(cron="0 * * * *")
    assert cadence.first_run(utc(2024, 6, 1, 10, 0)) == utc(2024, 6, 1, 11, 0)
    assert cadence.first_run(utc(2024, 6, 1, 10, 59, 59)) == utc(2024, 6, 1, 11, 0)


def test_a_cron_without_cron_tz_is_utc_whatever_the_machines_time_zone(machine_in_tokyo: None) -> None:
    assert time.localtime(utc(2024, 6, 1, 0, 0)).tm_hour == 9  # the fixture took effect
    assert Cadence(cron="30 2 * * *").next_after(utc(2024, 6, 1, 0, 0)) == utc(2024, 6, 1, 2, 30)


# --- intervals and one-off runs ---------------------------------------------------------------------


def test_an_interval_schedules_first_run_is_now_plus_the_interval() -> None:
    cadence = Cadence(interval=90.0)
    assert cadence.first_run(1_700_000_000.25) == 1_700_000_090.25
    assert cadence.next_after(1_700_000_090.25) == 1_700_000_180.25


def test_a_one_off_run_is_due_once_at_its_time() -> None:
    cadence = Cadence()
    assert cadence.first_run(1_700_000_000.0) == 1_700_000_000.0
    assert cadence.next_after(1_700_000_000.0) is None
    assert cadence.latest_due(1_700_000_000.0, 1_700_000_500.0) == 1_700_000_000.0


# --- catch-up: the latest missed due time -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (1000.0, 1000.0),  # due right now
        (1059.9, 1000.0),
        (1060.0, 1060.0),  # a due time equal to now counts
        (1000.0 + 60 * 10 + 5, 1600.0),  # ten missed runs merge into the latest
    ],
)
def test_interval_catch_up_is_the_latest_missed_due_time(now: float, expected: float) -> None:
    assert Cadence(interval=60.0).latest_due(1000.0, now) == expected


@pytest.mark.hypothesis
@settings(deadline=None)
@given(
    next_run_at=st.floats(min_value=0, max_value=4e9),
    interval=st.floats(min_value=0.001, max_value=1e6),
    late=st.floats(min_value=0, max_value=1e7),
)
def test_interval_catch_up_is_never_after_now_nor_an_interval_or_more_before_it(
    next_run_at: float, interval: float, late: float
) -> None:
    now = next_run_at + late
    due = Cadence(interval=interval).latest_due(next_run_at, now)
    assert next_run_at <= due <= now
    # Allow float rounding of the multiple, never a whole missed interval.
    assert now - due < interval * (1 + 1e-9) + 1e-6


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2024, 1, 1, 0, 5), utc(2024, 1, 1, 0, 5)),  # due right now
        (utc(2024, 1, 1, 0, 23, 59), utc(2024, 1, 1, 0, 20)),
        (utc(2024, 1, 1, 0, 25), utc(2024, 1, 1, 0, 25)),  # a due time equal to now counts
        (utc(2024, 1, 1, 0, 25) + 0.001, utc(2024, 1, 1, 0, 25)),
    ],
)
def test_cron_catch_up_is_the_latest_missed_due_time(now: float, expected: float) -> None:
    assert Cadence(cron="*/5 * * * *").latest_due(utc(2024, 1, 1, 0, 5), now) == expected


# --- daylight-saving changes in cron_tz -------------------------------------------------------------

# In 2024, New York springs forward on 10 March (02:00 EST -> 03:00 EDT) and falls back on
# 3 November (02:00 EDT -> 01:00 EST, so 01:00-01:59 happens twice).


def test_a_skipped_local_time_runs_at_the_first_instant_after_the_gap() -> None:
    cadence = Cadence(cron="30 2 * * *", cron_tz=NEW_YORK)
    due = cadence.next_after(new_york(2024, 3, 10, 0, 0))
    assert shown(due) == shown(new_york(2024, 3, 10, 3, 0))  # 03:00 EDT = 07:00 UTC
    assert due == utc(2024, 3, 10, 7, 0)
    assert shown(cadence.next_after(due)) == shown(new_york(2024, 3, 11, 2, 30))  # back to normal


def test_a_repeated_local_time_runs_once_at_its_first_occurrence() -> None:
    cadence = Cadence(cron="30 1 * * *", cron_tz=NEW_YORK)
    due = cadence.next_after(new_york(2024, 11, 3, 0, 0))
    assert shown(due) == shown(utc(2024, 11, 3, 5, 30))  # 01:30 EDT
    following = cadence.next_after(due)
    # Not again at 01:30 EST (06:30 UTC) that night: the next day, at 01:30 EST.
    assert shown(following) == shown(utc(2024, 11, 4, 6, 30))
    assert following == new_york(2024, 11, 4, 1, 30)


def test_hourly_across_fall_back_skips_the_repeated_hour() -> None:
    # The documented rule: a repeated local time runs once, at its first occurrence, so 01:00 EST
    # (the second 01:00, 06:00 UTC) is not a due time.
    cadence = Cadence(cron="0 * * * *", cron_tz=NEW_YORK)
    assert due_times(cadence, new_york(2024, 11, 3, 0, 30), 3) == [
        shown(utc(2024, 11, 3, 5, 0)),  # 01:00 EDT
        shown(utc(2024, 11, 3, 7, 0)),  # 02:00 EST
        shown(utc(2024, 11, 3, 8, 0)),  # 03:00 EST
    ]


@pytest.mark.parametrize(
    ("cron", "last_first_occurrence"),
    [
        ("0 * * * *", (1, 0)),
        ("*/15 * * * *", (1, 45)),
        ("* * * * *", (1, 59)),  # 60 repeated wall times in the hour, each to be skipped
    ],
)
def test_after_the_last_run_of_the_first_one_oclock_hour_the_next_is_two_oclock_est(
    cron: str, last_first_occurrence: tuple[int, int]
) -> None:
    cadence = Cadence(cron=cron, cron_tz=NEW_YORK)
    start = new_york(2024, 11, 3, *last_first_occurrence)  # EDT (fold 0)
    assert shown(cadence.next_after(start)) == shown(new_york(2024, 11, 3, 2, 0))  # 07:00 UTC


def test_catch_up_in_a_time_zone_follows_the_same_dst_rules() -> None:
    spring = Cadence(cron="30 2 * * *", cron_tz=NEW_YORK)
    # Missed since the day before; now is 03:10 EDT on the spring-forward day: its run was 03:00 EDT.
    assert shown(spring.latest_due(new_york(2024, 3, 9, 2, 30), new_york(2024, 3, 10, 3, 10))) == shown(
        new_york(2024, 3, 10, 3, 0)
    )
    fall = Cadence(cron="30 1 * * *", cron_tz=NEW_YORK)
    # Now is 01:45 EST (the second 01:45): the latest due time is the first 01:30 (EDT).
    now = new_york(2024, 11, 3, 1, 45, fold=1)
    assert shown(fall.latest_due(new_york(2024, 11, 2, 1, 30), now)) == shown(utc(2024, 11, 3, 5, 30))


# --- checks at the call -----------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["61 * * * *", "* * * *", "a b c d e", "*/0 * * * *", "* * 32 * *"])
def test_an_invalid_cron_is_a_configuration_error_carrying_croniters_reason(expression: str) -> None:
    with pytest.raises(CroniterError) as croniter_says:
        croniter(expression, datetime.now(UTC))
    with pytest.raises(ConfigurationError) as raised:
        check_cron(expression)
    assert expression in str(raised.value)
    assert str(croniter_says.value) in str(raised.value)


@pytest.mark.parametrize("expression", ["", "   ", None, 5, ["*"] * 5])
def test_a_cron_that_is_not_a_non_empty_string_is_a_configuration_error(expression: Any) -> None:
    with pytest.raises(ConfigurationError, match="cron"):
        check_cron(expression)


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 30 2 *"])
def test_a_cron_that_never_matches_is_a_configuration_error_at_the_call(expression: str) -> None:
    # 31 or 30 February never comes: such a schedule could never run, so it is refused up front.
    with pytest.raises(ConfigurationError, match="cron"):
        check_cron(expression)


def test_valid_crons_are_accepted_and_trimmed() -> None:
    assert check_cron(" */5 * * * * ") == "*/5 * * * *"
    assert check_cron("* * * * * */10") == "* * * * * */10"
    assert check_cron("0 9 * * 1-5", NEW_YORK) == "0 9 * * 1-5"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "Not A Zone"])
def test_an_unknown_time_zone_is_a_configuration_error(zone: str) -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        check_cron("0 * * * *", zone)


def test_a_cadence_in_an_unknown_time_zone_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Mars/Olympus"):
        Cadence(cron="0 * * * *", cron_tz="Mars/Olympus").next_after(utc(2024, 1, 1))


@pytest.mark.parametrize("zone", [5, b"UTC"])
def test_a_time_zone_that_is_not_a_string_is_a_configuration_error(zone: Any) -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        check_cron("0 * * * *", zone)


_NOT_POSITIVE_NUMBERS = [
    0,
    0.0,
    -1,
    -0.5,
    True,
    False,
    math.nan,
    math.inf,
    -math.inf,
    timedelta(0),
    timedelta(seconds=-1),
    "5",
    None,
]


@pytest.mark.parametrize("interval", _NOT_POSITIVE_NUMBERS)
def test_check_interval_rejects_what_is_not_a_positive_finite_number(interval: Any) -> None:
    with pytest.raises(ValueError, match="interval"):
        check_interval(interval, 0.001)


def test_check_interval_takes_seconds_or_a_timedelta() -> None:
    assert check_interval(1, 1.0) == 1.0
    assert check_interval(0.5, 0.1) == 0.5
    assert check_interval(timedelta(minutes=2), 1.0) == 120.0


@pytest.mark.parametrize("interval", [1e-9, 0.5, 0.999, timedelta(milliseconds=10)])
def test_check_interval_refuses_what_is_below_the_floor(interval: Any) -> None:
    with pytest.raises(ConfigurationError, match="shorter than NAQ_MIN_SCHEDULE_INTERVAL=1 s"):
        check_interval(interval, 1.0)


def test_the_interval_floor_is_inclusive() -> None:
    assert check_interval(1.0, 1.0) == 1.0
    assert check_interval(timedelta(seconds=1), 1.0) == 1.0


@pytest.mark.parametrize("repeat", [0, -1, True, False, 1.5, 2.0, math.nan, math.inf, "3"])
def test_check_repeat_rejects_what_is_not_a_whole_number_of_at_least_one(repeat: Any) -> None:
    with pytest.raises(ValueError, match="repeat"):
        check_repeat(repeat)


def test_check_repeat_takes_none_or_a_whole_number() -> None:
    assert check_repeat(None) is None
    assert check_repeat(1) == 1
    assert check_repeat(10) == 10


# --- times given by the caller ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        datetime(2030, 1, 1),  # naive = UTC
        datetime(2030, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1, 1, 0, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2029, 12, 31, 19, 0, tzinfo=_NY),
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00",  # naive = UTC
        "2030-01-01T01:00:00+01:00",
        " 2030-01-01T00:00:00Z ",
        1893456000,
        1893456000.0,
    ],
)
def test_parse_time_reads_every_form_as_the_same_utc_instant(when: Any) -> None:
    assert parse_time(when) == utc(2030, 1, 1)


@pytest.mark.parametrize("when", ["junk", "", "2030-13-01", "next tuesday", -1, True, math.nan, math.inf, None, []])
def test_parse_time_rejects_junk(when: Any) -> None:
    with pytest.raises(ConfigurationError, match="next_run"):
        parse_time(when, "next_run")
