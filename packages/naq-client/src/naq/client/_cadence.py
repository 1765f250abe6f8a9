"""When a schedule's runs fall due: cron expressions (croniter, optional time zone) and intervals.

Shared by the producer (checks at the call, first run time) and the scheduler (next runs,
catch-up), so both always agree. Times are Unix seconds (UTC).

Cron expressions have 5 fields, or 6 with seconds last (croniter's convention, e.g.
``"* * * * * */10"`` is every 10 seconds). With ``cron_tz`` they are read in that IANA time zone:
the expression is matched against local wall-clock times, each of which then becomes one instant.
Across daylight-saving changes:

- a local time the clock skips (spring forward) runs at the first instant after the gap
  (``30 2 * * *`` in New York on the spring-forward night runs at 03:00 EDT); several skipped
  times (a minutely cron) run once there, not once each;
- a local time the clock repeats (fall back) runs once, at its first occurrence (``30 1 * * *``
  runs at 01:30 EDT, not again at 01:30 EST; a minutely cron runs through 01:59 EDT, then 02:00 EST).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from naq.protocol import ConfigurationError, ScheduleRecord

__all__ = [
    "Cadence",
    "check_cron",
    "check_interval",
    "check_repeat",
    "check_seconds",
    "interval_too_short",
    "parse_time",
    "time_zone",
]

_MAX_CANDIDATES: Final = 20_000
"""Most cron matches looked at for one due time: around a daylight-saving change, matches that map
to instants already past are passed over (at most one repeated hour of a seconds cron: 3,600)."""

_TRANSITION_PRECISION: Final = 0.001
"""Seconds to which the instant of a clock change is searched for."""


@lru_cache(maxsize=256)
def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``ConfigurationError`` if there is none."""
    if not isinstance(name, str):
        raise ConfigurationError(f"cron_tz must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"unknown time zone {name!r} for cron_tz ({exc})") from None


def check_cron(expression: object, cron_tz: str | None = None) -> str:
    """``expression`` if croniter accepts it, else ``ConfigurationError`` with croniter's reason."""
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigurationError(f"cron must be a non-empty string like '*/5 * * * *', got {expression!r}")
    if cron_tz is not None:
        time_zone(cron_tz)
    try:
        # One match too: an expression that never matches (31 February) is refused here, not later.
        croniter(expression, datetime.now(UTC).replace(tzinfo=None)).get_next(datetime)
    except (CroniterError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"invalid cron expression {expression!r}: {exc}") from None
    return expression.strip()


def check_seconds(value: object, what: str, *, allow_zero: bool) -> float:
    """Seconds from a number or ``timedelta``; ``ConfigurationError`` (a ``ValueError``) naming ``what``
    unless finite and > 0 (>= 0 with ``allow_zero``)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ConfigurationError(f"{what} must be a number of seconds or a timedelta, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigurationError(f"{what} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return float(seconds)


def interval_too_short(interval: float, floor: float) -> str | None:
    """Why ``interval`` is refused under the floor ``floor`` (``NAQ_MIN_SCHEDULE_INTERVAL``), or None.

    The floor is inclusive: an interval equal to it is allowed.
    """
    if interval >= floor:
        return None
    return f"interval {interval:g} s is shorter than NAQ_MIN_SCHEDULE_INTERVAL={floor:g} s"


def check_interval(interval: object, floor: float) -> float:
    """A schedule's interval in seconds (a number or ``timedelta``), at least ``floor`` seconds.

    ``floor`` is the settings' ``min_schedule_interval``: an interval of ``1e-9`` would have the
    scheduler fire without pause, so intervals below it are a ``ConfigurationError``.
    """
    seconds = check_seconds(interval, "interval", allow_zero=False)
    reason = interval_too_short(seconds, floor)
    if reason is not None:
        raise ConfigurationError(reason)
    return seconds


def check_repeat(repeat: object) -> int | None:
    """``repeat`` if it is ``None`` or a whole number >= 1, else ``ValueError`` (a ``ConfigurationError``)."""
    if repeat is None:
        return None
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ConfigurationError(f"repeat must be a whole number >= 1 or None, got {repeat!r}")
    return repeat


def parse_time(when: object, what: str = "time") -> float:
    """Unix seconds from an aware or naive (= UTC) ``datetime``, an ISO 8601 string, or a number."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"{what} must be an ISO 8601 time, got {when!r}") from None
    if isinstance(when, datetime):
        return (when.replace(tzinfo=UTC) if when.tzinfo is None else when).timestamp()
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when) or when < 0:
        raise ConfigurationError(f"{what} must be a datetime (naive = UTC) or a Unix timestamp, got {when!r}")
    return float(when)


@dataclass(frozen=True, slots=True)
class Cadence:
    """The due times of one schedule: a cron expression (in ``cron_tz``), an interval, or neither."""

    cron: str | None = None
    cron_tz: str | None = None
    interval: float | None = None

    @classmethod
    def of(cls, record: ScheduleRecord) -> Cadence:
        """The cadence of ``record``."""
        return cls(record.cron, record.cron_tz, record.interval)

    def first_run(self, now: float) -> float:
        """The first due time of a schedule created at ``now``: the next cron match, or now + interval."""
        if self.interval is not None:
            return now + self.interval
        if self.cron is not None:
            return self.next_after(now)
        return now

    def next_after(self, t: float) -> float | None:
        """The first due time strictly after ``t``; ``None`` for a one-off run."""
        if self.interval is not None:
            return t + self.interval
        if self.cron is None:
            return None
        zone = self._zone()
        iterator = croniter(self.cron, _wall(t, zone))
        for _ in range(_MAX_CANDIDATES):
            instant = _instant(iterator.get_next(datetime), zone)
            if instant > t:
                return instant
        raise ConfigurationError(f"cron {self.cron!r} has no due time after {t}")

    def latest_due(self, next_run_at: float, now: float) -> float:
        """The latest due time in ``[next_run_at, now]`` (``next_run_at`` <= ``now``): the catch-up run.

        Runs missed while no scheduler led, or while paused, merge into this one run.
        """
        if self.interval is not None:
            return next_run_at + math.floor((now - next_run_at) / self.interval) * self.interval
        if self.cron is None:
            return next_run_at
        zone = self._zone()
        # get_prev is strict, so start just after `now` to include a due time equal to it.
        iterator = croniter(self.cron, _wall(now, zone) + timedelta(microseconds=1))
        for _ in range(_MAX_CANDIDATES):
            instant = _instant(iterator.get_prev(datetime), zone)
            if instant <= now:
                return max(next_run_at, instant)
        return next_run_at

    def _zone(self) -> ZoneInfo | None:
        return time_zone(self.cron_tz) if self.cron_tz else None


def _wall(t: float, zone: ZoneInfo | None) -> datetime:
    """The naive local wall-clock time of instant ``t`` (UTC when ``zone`` is ``None``)."""
    return datetime.fromtimestamp(t, zone or UTC).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo | None) -> float:
    """The instant of local wall-clock time ``wall``: its first occurrence if the clock repeats it,
    the end of the gap if the clock skips it."""
    if zone is None:
        return wall.replace(tzinfo=UTC).timestamp()
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first.timestamp()
    # Skipped: fold=1 reads it with the offset after the change, fold=0 with the one before, so
    # the change lies between the two instants; find where the offset switches.
    low, high = wall.replace(tzinfo=zone, fold=1).timestamp(), first.timestamp()
    after = datetime.fromtimestamp(high, zone).utcoffset()
    for _ in range(64):
        if high - low <= _TRANSITION_PRECISION:
            break
        middle = (low + high) / 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return float(round(high))
