"""The job envelope: everything a worker needs to run, retry and report one job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from naq.protocol._checks import check_non_negative, check_optional_positive, check_ref
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id, validate_queue_name
from naq.protocol.refs import REF_PATTERN
from naq.protocol.serializers import SerializerName

__all__ = ["RETRY_STRATEGIES", "JobEnvelope", "RetryStrategy"]

RetryStrategy = Literal["fixed", "linear", "exponential"]
"""How the delay grows between attempts: constant, ``delay * n`` or ``delay * 2**(n-1)``."""

RETRY_STRATEGIES: tuple[RetryStrategy, ...] = ("fixed", "linear", "exponential")
"""Every retry strategy naq knows."""


@dataclass(frozen=True, slots=True)
class JobEnvelope(Record):
    """A job as published on ``naq.queue.<queue>``: the call and the options that govern it.

    ``payload`` is opaque to everything but the job's serializer. ``retry_delay`` is seconds, either
    one number shaped by ``retry_strategy`` or one entry per retry (the last repeats).
    ``result_ttl`` of ``None`` means the default (``NAQ_DEFAULT_RESULT_TTL``), ``0`` stores no result.
    ``dependency_timeout`` (seconds; ``None``: ``NAQ_DEPENDENCY_TIMEOUT``) bounds how long the job
    waits for its ``depends_on`` jobs to end.
    Times are Unix seconds (UTC).
    """

    KIND: ClassVar[str] = "job"
    OMIT_DEFAULTS: ClassVar[bool] = True

    job_id: str
    queue: str
    function: str
    payload: Any
    enqueued_at: float
    serializer: SerializerName = "json"
    max_retries: int = 0
    retry_delay: float | tuple[float, ...] = 0.0
    retry_strategy: RetryStrategy = "fixed"
    retry_jitter: bool = False
    retry_max_delay: float | None = None
    retry_on: tuple[str, ...] = ()
    ignore_on: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    result_ttl: int | None = None
    dependency_timeout: float | None = None

    def __post_init__(self) -> None:
        _floats(self)
        validate_job_id(self.job_id)
        validate_queue_name(self.queue)
        check_ref("function", self.function, REF_PATTERN)
        check_non_negative("enqueued_at", self.enqueued_at)
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        delays = self.retry_delay if isinstance(self.retry_delay, tuple) else (self.retry_delay,)
        if not delays:
            raise ValueError("retry_delay list must not be empty")
        for delay in delays:
            check_non_negative("retry_delay", delay)
        if self.retry_strategy not in RETRY_STRATEGIES:
            raise ValueError(f"retry_strategy must be one of {RETRY_STRATEGIES}, got {self.retry_strategy!r}")
        check_optional_positive("retry_max_delay", self.retry_max_delay)
        for ref in (*self.retry_on, *self.ignore_on):
            check_ref("retry_on/ignore_on entry", ref, REF_PATTERN)
        for dependency in self.depends_on:
            validate_job_id(dependency)
        if self.job_id in self.depends_on:
            raise ValueError(f"job {self.job_id!r} cannot depend on itself")
        check_optional_positive("timeout", self.timeout)
        check_optional_positive("dependency_timeout", self.dependency_timeout)
        if self.result_ttl is not None and self.result_ttl < 0:
            raise ValueError(f"result_ttl must be >= 0 or None, got {self.result_ttl!r}")


_FLOAT_FIELDS = ("enqueued_at", "retry_max_delay", "timeout", "dependency_timeout")


def _floats(envelope: JobEnvelope) -> None:
    """Whole numbers given for the float fields become floats, as decoding makes them: so
    ``decode(encode(e)).encode() == encode(e)`` for every envelope, and a signed job's record
    publishes the very bytes its producer signed (tests/protocol/test_signing.py proves it)."""
    for name in _FLOAT_FIELDS:
        value = getattr(envelope, name)
        if type(value) is int:
            object.__setattr__(envelope, name, float(value))
    delay = envelope.retry_delay
    if type(delay) is int:
        object.__setattr__(envelope, "retry_delay", float(delay))
    elif isinstance(delay, tuple) and any(type(d) is int for d in delay):
        object.__setattr__(envelope, "retry_delay", tuple(float(d) if type(d) is int else d for d in delay))
