"""Retry decisions: whether a failed attempt is retried, and after how long."""

from __future__ import annotations

import random

from naq.protocol.job import JobEnvelope
from naq.protocol.refs import exception_matches

__all__ = ["retry_delay", "should_retry"]


def should_retry(envelope: JobEnvelope, error: BaseException, attempt: int) -> bool:
    """True if attempt number ``attempt`` (1-based), which failed with ``error``, gets another try."""
    if attempt > envelope.max_retries:
        return False
    if envelope.ignore_on and exception_matches(error, envelope.ignore_on):
        return False
    return not envelope.retry_on or exception_matches(error, envelope.retry_on)


def retry_delay(envelope: JobEnvelope, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

    A list gives one delay per retry (the last repeats); a number is shaped by the strategy:
    ``fixed`` d, ``linear`` d x n, ``exponential`` d x 2^(n-1). Jitter then draws uniformly from
    [delay / 2, delay]; ``retry_max_delay`` caps the result.
    """
    base = envelope.retry_delay
    if isinstance(base, tuple):
        delay = base[min(attempt, len(base)) - 1]
    elif envelope.retry_strategy == "linear":
        delay = base * attempt
    elif envelope.retry_strategy == "exponential":
        delay = base * 2 ** min(attempt - 1, 64)
    else:
        delay = base
    if envelope.retry_jitter and delay > 0:
        delay = (rng or random).uniform(delay / 2, delay)
    if envelope.retry_max_delay is not None:
        delay = min(delay, envelope.retry_max_delay)
    return delay
