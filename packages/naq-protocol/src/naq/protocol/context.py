"""The context a job function may take as its first parameter."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["JobContext", "wants_context"]


@dataclass(slots=True)
class JobContext:
    """What a running job may know about itself and its worker.

    A job function receives it when its first parameter is named ``ctx`` or annotated
    ``JobContext``. ``state`` is the dict the worker's ``on_startup`` hook filled (e.g. a DB pool).

    ``cancelled`` turns true when ``cancel_job`` asks to cancel the job while it runs. An async
    job is interrupted (``CancelledError`` at its next ``await``); a sync job cannot be stopped
    from outside its thread, so a long sync job should check ``ctx.cancelled`` and return early.
    Either way the job's outcome is recorded as cancelled.
    """

    job_id: str
    queue: str
    attempt: int
    max_retries: int
    worker_id: str
    function: str
    state: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False


def wants_context(func: Callable[..., Any]) -> bool:
    """True if ``func``'s first parameter asks for the :class:`JobContext` (cached per function)."""
    try:
        return _wants_context(func)
    except TypeError:  # an unhashable callable object: inspect it every time
        return _wants_context.__wrapped__(func)


# Bounded: pickle jobs bring a new function object each time, which must not pile up here.
@lru_cache(maxsize=4096)
def _wants_context(func: Callable[..., Any]) -> bool:
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return False
    if not parameters:
        return False
    first = parameters[0]
    if first.kind not in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD):
        return False
    return first.name == "ctx" or first.annotation in (JobContext, "JobContext")
