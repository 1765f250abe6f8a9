"""Finding the callable of a job: allowed modules, the pickle switch, and a cached import."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from naq.protocol import ConfigurationError, JobEnvelope, JobRejectedError, get_serializer
from naq.protocol.refs import module_of, resolve_ref

__all__ = ["allowed_prefixes", "load_call"]


_PREFIX: Final = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")
"""A module prefix: a dotted module name (``tasks``, ``myapp.jobs``)."""


def allowed_prefixes(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """The allowed module prefixes (``None``: any module), or ``ConfigurationError``.

    A prefix that is not a dotted module name (``''``, ``'tasks.'``, ``' tasks'``) matches no
    module, so a worker given one would reject every job: it is refused at start instead.
    """
    if value is None:
        return None
    prefixes = (value,) if isinstance(value, str) else tuple(value)
    for prefix in prefixes:
        if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
            raise ConfigurationError(
                f"allowed module {prefix!r} is not a dotted module name like 'tasks' or 'myapp.jobs' "
                "(it would match no job's module)"
            )
    return prefixes or None


def _module_allowed(module: str, allowed: tuple[str, ...] | None) -> bool:
    if allowed is None:
        return True
    key = (module, allowed)
    verdict = _allowed.get(key)
    if verdict is None:
        verdict = any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)
        if len(_allowed) < _MAX_REMEMBERED:  # bounded: module names come from messages
            _allowed[key] = verdict
    return verdict


_MAX_REMEMBERED = 4096
_allowed: dict[tuple[str, tuple[str, ...]], bool] = {}


_resolved: dict[str, Callable[..., Any]] = {}

_PATH_SHOWN: Final = 8
"""Import path entries named in a "cannot import" error; the rest are counted."""


def _searched() -> str:
    """The import path, for an error saying a module was not found: where it was looked for."""
    shown = ", ".join(entry or "''" for entry in sys.path[:_PATH_SHOWN])
    more = len(sys.path) - _PATH_SHOWN
    return f"import path searched: {shown}" + (f" and {more} more" if more > 0 else "")


def load_call(
    envelope: JobEnvelope, allow_pickle: bool, allowed_modules: tuple[str, ...] | None
) -> tuple[Callable[..., Any], list[Any], dict[str, Any]]:
    """(function, args, kwargs) of ``envelope``, or ``JobRejectedError`` saying why not."""
    if not _module_allowed(module_of(envelope.function), allowed_modules):
        allowed = ", ".join(allowed_modules or ())
        raise JobRejectedError(f"function {envelope.function} is outside this worker's allowed modules ({allowed})")
    if envelope.serializer == "pickle" and not allow_pickle:
        raise JobRejectedError(
            f"job {envelope.job_id} uses the pickle serializer, which this worker does not accept "
            "(set NAQ_ALLOW_PICKLE=true or --allow-pickle to run pickle jobs)"
        )
    func, args, kwargs = get_serializer(envelope.serializer).load_call(envelope.payload)
    if func is not None:
        return func, args, kwargs
    resolved = _resolved.get(envelope.function)
    if resolved is None:
        try:
            target = resolve_ref(envelope.function)
        except Exception as exc:  # importing user code can raise anything
            reason = f"cannot import {envelope.function}: {type(exc).__name__}: {exc}"
            if isinstance(exc, ModuleNotFoundError):
                reason += f" ({_searched()})"
            raise JobRejectedError(reason) from exc
        if not callable(target):
            raise JobRejectedError(f"{envelope.function} is not callable")
        resolved = _resolved[envelope.function] = target
    return resolved, args, kwargs
