"""Finding the callable of a job: allowed modules, the pickle switch, and a cached import.

The job's module is checked before anything is imported (:mod:`naq.worker._allowlist`). The walk
from the module to the function is checked too, so an allowed module cannot be used as a door:
``tasks:os.system`` (``tasks`` imports ``os``) passes through the module ``os``, which must be
allowed itself, and the function reached must not be defined in a denied module (``os.system``
is ``posix``'s). Special attributes (``tasks:__loader__.exec_module``) are never walked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final

from naq.protocol import JobEnvelope, JobRejectedError, get_serializer
from naq.protocol.refs import module_of, walk_ref
from naq.worker._allowlist import denied_root, refusal

__all__ = ["load_call"]


_Resolved = tuple[Callable[..., Any], tuple[str, ...], str | None]
"""A resolved function, the modules its walk passed through, and the module that defines it."""

_resolved: dict[str, _Resolved] = {}

_PATH_SHOWN: Final = 8
"""Import path entries named in a "cannot import" error; the rest are counted."""


def _searched() -> str:
    """The import path, for an error saying a module was not found: where it was looked for."""
    shown = ", ".join(entry or "''" for entry in sys.path[:_PATH_SHOWN])
    more = len(sys.path) - _PATH_SHOWN
    return f"import path searched: {shown}" + (f" and {more} more" if more > 0 else "")


def _resolve(ref: str) -> _Resolved:
    """Import ``ref``'s module and walk its qualified name, noting the modules walked through."""
    module_name, _, qualname = ref.partition(":")
    for part in qualname.split("."):
        if part.startswith("__") and part.endswith("__"):
            raise JobRejectedError(f"{ref} names the special attribute {part}, which a job may not reach")
    obj, walked = walk_ref(ref)
    defined_in = getattr(obj, "__module__", None)
    if not isinstance(defined_in, str) or denied_root(module_name) is not None:
        # A denied module that runs at all was allowed by name, with what it defines elsewhere
        # (os.system is posix's).
        defined_in = None
    return obj, walked, defined_in


def _check_walk(ref: str, resolved: _Resolved, allowed: tuple[str, ...] | None) -> None:
    _, walked, defined_in = resolved
    for module in walked:
        reason = refusal(module, allowed)
        if reason is not None:
            raise JobRejectedError(f"function {ref} is reached through {module}: {reason}")
    if defined_in is not None:
        reason = refusal(defined_in, allowed, listed=False)
        if reason is not None:
            raise JobRejectedError(f"function {ref} is defined in {defined_in}: {reason}")


def load_call(
    envelope: JobEnvelope, allow_pickle: bool, allowed_modules: tuple[str, ...] | None
) -> tuple[Callable[..., Any], list[Any], dict[str, Any]]:
    """(function, args, kwargs) of ``envelope``, or ``JobRejectedError`` saying why not.

    ``allowed_modules`` ``None`` means any module (a worker started with ``allow_any_module``);
    the denied modules are refused either way.
    """
    reason = refusal(module_of(envelope.function), allowed_modules)
    if reason is not None:
        raise JobRejectedError(f"function {envelope.function} is refused: {reason}")
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
            resolved = _resolve(envelope.function)
        except JobRejectedError:
            raise
        except Exception as exc:  # importing user code can raise anything
            reason = f"cannot import {envelope.function}: {type(exc).__name__}: {exc}"
            if isinstance(exc, ModuleNotFoundError):
                reason += f" ({_searched()})"
            raise JobRejectedError(reason) from exc
        if not callable(resolved[0]):
            raise JobRejectedError(f"{envelope.function} is not callable")
        _resolved[envelope.function] = resolved
    # Checked on every job (cached verdicts): workers of one process may allow different modules.
    _check_walk(envelope.function, resolved, allowed_modules)
    return resolved[0], args, kwargs
