"""Job functions for the retries example: one that fails now and then, one that always fails, and
one that gets input it can never handle.

A function whose first parameter is named ``ctx`` receives the job's context from the worker
(``naq.worker.JobContext``): its id, queue, and which attempt this is (1 for the first run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: a producer does not need naq-worker installed
    from naq.worker import JobContext


class PaymentDeclined(Exception):
    """The card was refused: trying again will not help."""


def fetch_rates(ctx: JobContext, currency: str) -> str:
    """Fails with a (simulated) network error on its first two attempts, then succeeds."""
    if ctx.attempt < 3:
        raise ConnectionError(f"rates service unreachable (attempt {ctx.attempt})")
    return f"{currency} rates fetched on attempt {ctx.attempt}"


def sync_inventory(ctx: JobContext) -> None:
    """Always fails with a network error: after its last retry it lands in the dead-letter queue."""
    raise ConnectionError(f"inventory service unreachable (attempt {ctx.attempt})")


def charge_card(card: str, amount: int) -> str:
    """Fails with an error that is not worth retrying."""
    raise PaymentDeclined(f"card {card} declined for {amount}")
