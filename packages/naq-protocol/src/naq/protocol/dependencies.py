"""Parked dependents, and the verdict a dependent carries when it reaches its queue.

A job with ``depends_on`` whose dependencies have not all completed is *parked*: one
:class:`ParkedJobRecord` per unfinished dependency in ``naq_waiting`` under
``<dependency_id>.<dependent_id>``. When a dependency completes, its key is deleted; whoever
deletes the last one publishes the job to its queue. When a dependency fails, is cancelled or
the wait times out, the job is published with a verdict that makes the worker fail it without
running it. Every such publish of one parking carries the message id
``<job_id>.release.<generation>``, so racing releasers produce one message.

The verdict travels in the ``Naq-Dependencies`` header:

- ``met``: every dependency completed; run the job.
- ``failed <dependency_id> <how>``: that dependency ``failed``, was ``cancelled`` or ``timeout``
  (did not end within the job's ``dependency_timeout``); fail the job with ``DependencyFailedError``.
- ``cancelled``: the parked job itself was cancelled; end it cancelled.
- ``deadline <generation>``: the ``dependency_timeout`` message of a parking (a server-side
  schedule); the worker checks whether that parking still waits.

A job with ``depends_on`` and no (or an unreadable) header is checked by the worker, which parks
it if need be (a job requeued from the dead-letter queue takes this path).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from naq.protocol._checks import check_non_negative
from naq.protocol._codec import Record
from naq.protocol.ids import validate_job_id
from naq.protocol.job import JobEnvelope
from naq.protocol.signing import check_signature

__all__ = ["DependencyOutcome", "DependencyVerdict", "ParkedJobRecord", "Verdict"]


@dataclass(frozen=True, slots=True)
class ParkedJobRecord(Record):
    """A dependent job parked until its dependencies end (a value in ``naq_waiting``).

    ``generation`` tells one parking of the job from a later one (a requeued job parks again) and
    numbers its release message id; ``deadline`` is when it fails if it is still waiting (Unix s).
    ``signature`` is the job's ``Naq-Signature`` as its producer made it (``None``: unsigned):
    every publish of the parked job carries it unchanged.
    """

    KIND: ClassVar[str] = "parked_job"

    job: JobEnvelope
    generation: int
    parked_at: float
    deadline: float
    signature: str | None = None

    def __post_init__(self) -> None:
        check_signature(self.signature)
        if not self.job.depends_on:
            raise ValueError(f"job {self.job.job_id!r} has no dependencies to wait for")
        if self.generation < 1:
            raise ValueError(f"generation must be >= 1, got {self.generation!r}")
        check_non_negative("parked_at", self.parked_at)
        check_non_negative("deadline", self.deadline)


class Verdict(StrEnum):
    """The first word of the ``Naq-Dependencies`` header."""

    MET = "met"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEADLINE = "deadline"


class DependencyOutcome(StrEnum):
    """How a dependency kept its dependent from running."""

    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class DependencyVerdict:
    """A parsed ``Naq-Dependencies`` header."""

    verdict: Verdict
    dependency: str | None = None
    outcome: DependencyOutcome | None = None
    generation: int = 0

    @classmethod
    def met(cls) -> DependencyVerdict:
        """Every dependency completed."""
        return cls(Verdict.MET)

    @classmethod
    def failed(cls, dependency: str, outcome: DependencyOutcome) -> DependencyVerdict:
        """``dependency`` failed, was cancelled or timed out."""
        return cls(Verdict.FAILED, validate_job_id(dependency), DependencyOutcome(outcome))

    @classmethod
    def cancelled(cls) -> DependencyVerdict:
        """The parked job itself was cancelled."""
        return cls(Verdict.CANCELLED)

    @classmethod
    def deadline(cls, generation: int) -> DependencyVerdict:
        """The ``dependency_timeout`` of parking ``generation`` is due."""
        return cls(Verdict.DEADLINE, generation=generation)

    def header(self) -> str:
        """The header value."""
        if self.verdict is Verdict.FAILED:
            return f"{self.verdict} {self.dependency} {self.outcome}"
        if self.verdict is Verdict.DEADLINE:
            return f"{self.verdict} {self.generation}"
        return str(self.verdict)

    @classmethod
    def parse(cls, value: str | None) -> DependencyVerdict | None:
        """The verdict in a header value; ``None`` if absent or unreadable (the worker then checks)."""
        words = value.split() if value else []
        if not words:
            return None
        try:
            verdict = Verdict(words[0])
            if verdict is Verdict.FAILED and len(words) == 3:
                return cls.failed(words[1], DependencyOutcome(words[2]))
            if verdict is Verdict.DEADLINE and len(words) == 2 and words[1].isdigit():
                return cls.deadline(int(words[1]))
            if verdict in (Verdict.MET, Verdict.CANCELLED) and len(words) == 1:
                return cls(verdict)
        except ValueError:
            return None
        return None
