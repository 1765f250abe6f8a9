"""Retry policy (which failures are retried, the delay before each) and job-context detection."""

from __future__ import annotations

import random
import time

import pytest

from naq.protocol import JobEnvelope
from naq.protocol.retry import retry_delay, should_retry


class AppError(Exception):
    """An application error."""


class TransientError(AppError):
    """A subclass: matched by filters naming AppError."""


def envelope(**options: object) -> JobEnvelope:
    return JobEnvelope(job_id="j", queue="default", function="m:f", payload={}, enqueued_at=time.time(), **options)


def ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def test_attempts_up_to_max_retries_are_retried() -> None:
    job = envelope(max_retries=2)
    assert [should_retry(job, AppError(), attempt) for attempt in (1, 2, 3)] == [True, True, False]
    assert not should_retry(envelope(), AppError(), 1)


def test_retry_on_and_ignore_on_match_along_the_class_hierarchy() -> None:
    only_app = envelope(max_retries=5, retry_on=(ref(AppError),))
    assert should_retry(only_app, TransientError(), 1)
    assert not should_retry(only_app, ValueError(), 1)
    never_transient = envelope(max_retries=5, ignore_on=(ref(TransientError),))
    assert not should_retry(never_transient, TransientError(), 1)
    assert should_retry(never_transient, AppError(), 1)
    both = envelope(max_retries=5, retry_on=(ref(AppError),), ignore_on=(ref(TransientError),))
    assert not should_retry(both, TransientError(), 1)


@pytest.mark.parametrize(
    ("options", "delays"),
    [
        ({"retry_delay": 2.0}, [2, 2, 2]),
        ({"retry_delay": 2.0, "retry_strategy": "linear"}, [2, 4, 6]),
        ({"retry_delay": 1.0, "retry_strategy": "exponential"}, [1, 2, 4]),
        ({"retry_delay": 1.0, "retry_strategy": "exponential", "retry_max_delay": 3.0}, [1, 2, 3]),
        ({"retry_delay": (1.0, 2.0)}, [1, 2, 2]),
        ({"retry_delay": (5.0, 1.0, 7.0), "retry_strategy": "exponential"}, [5, 1, 7]),
    ],
)
def test_delays(options: dict[str, object], delays: list[float]) -> None:
    job = envelope(max_retries=3, **options)
    assert [retry_delay(job, attempt) for attempt in (1, 2, 3)] == delays


def test_jitter_stays_within_half_and_full_delay_and_under_the_cap() -> None:
    rng = random.Random(7)
    job = envelope(retry_delay=8.0, retry_jitter=True, retry_max_delay=6.0)
    samples = [retry_delay(job, 1, rng) for _ in range(1000)]
    assert min(samples) >= 4.0
    assert max(samples) <= 6.0
    assert len(set(samples)) > 100


def test_huge_exponents_do_not_overflow() -> None:
    job = envelope(retry_delay=1.0, retry_strategy="exponential", retry_max_delay=60.0, max_retries=10_000)
    assert retry_delay(job, 5_000) == 60.0


def test_context_parameter_detection() -> None:
    from naq.protocol.context import JobContext, wants_context

    def by_name(ctx, a):  # type: ignore[no-untyped-def]
        return a

    def by_annotation(context: JobContext, a: int) -> int:
        return a

    def plain(a: int) -> int:
        return a

    class CallableWithoutHash:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, ctx: object) -> None:
            return None

    assert wants_context(by_name)
    assert wants_context(by_annotation)
    assert not wants_context(plain)
    assert not wants_context(len)
    assert wants_context(CallableWithoutHash())
