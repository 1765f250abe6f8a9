"""References ``module:qualname`` to functions and exception classes, and their resolution.

A JSON job names its function by reference and the worker imports it; ``retry_on`` and
``ignore_on`` name exception classes the same way, so they survive any serializer and are matched
against the raised exception's class hierarchy without importing anything.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from naq.protocol.errors import SerializationError

__all__ = [
    "REF_PATTERN",
    "describe_callable",
    "exception_matches",
    "exception_ref",
    "function_ref",
    "module_of",
    "resolve_ref",
]

REF_PATTERN: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
"""Shape of a reference: dotted module path, a colon, dotted qualified name."""


def _raw_ref(obj: Any) -> tuple[str | None, str | None]:
    return getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)


def function_ref(func: Callable[..., Any]) -> str:
    """The importable reference ``module:qualname`` of ``func``.

    Raises ``SerializationError`` for what a worker could not import by name: lambdas, nested
    functions, functions defined in ``__main__``, bound methods of instances and other callables
    without a qualified name (e.g. ``functools.partial``). The pickle serializer carries those.
    """
    if not callable(func):
        raise SerializationError(f"{func!r} is not callable")
    module, qualname = _raw_ref(func)
    if inspect.ismethod(func) and not inspect.isclass(func.__self__):
        raise SerializationError(
            f"{qualname or func!r} is a method bound to an instance; enqueue a module-level function "
            "or use serializer='pickle'"
        )
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise SerializationError(
            f"{func!r} has no importable name; enqueue a module-level function or use serializer='pickle'"
        )
    if "<lambda>" in qualname:
        raise SerializationError(
            f"a lambda ({module}:{qualname}) cannot be enqueued by name; define a module-level "
            "function or use serializer='pickle'"
        )
    if "<locals>" in qualname:
        raise SerializationError(
            f"{module}:{qualname} is defined inside another function, so a worker cannot import it; "
            "move it to module level or use serializer='pickle'"
        )
    if module == "__main__":
        raise SerializationError(
            f"{qualname} is defined in __main__, which a worker cannot import; move it into an "
            "importable module or use serializer='pickle'"
        )
    return f"{module}:{qualname}"


def describe_callable(func: Callable[..., Any]) -> str:
    """A ``module:qualname`` for display and module checks that always fits :data:`REF_PATTERN`.

    Used for pickle jobs, whose callable travels by value: ``<lambda>`` and ``<locals>`` parts are
    kept readable (``_lambda_``) so the reference can still be shown and checked against a worker's
    allowed modules. Never raises.
    """
    module, qualname = _raw_ref(func)
    module = module if isinstance(module, str) and module else "unknown"
    qualname = qualname if isinstance(qualname, str) and qualname else type(func).__qualname__
    ref = f"{_safe_dotted(module)}:{_safe_dotted(qualname)}"
    return ref if REF_PATTERN.fullmatch(ref) else f"unknown:{_safe_dotted(type(func).__name__)}"


def _safe_dotted(name: str) -> str:
    return ".".join(re.sub(r"\W", "_", part) or "_" for part in name.split("."))


def exception_ref(exc_type: type[BaseException] | str) -> str:
    """Reference of an exception class (a valid reference string passes through unchanged)."""
    if isinstance(exc_type, str):
        if REF_PATTERN.fullmatch(exc_type) is None:
            raise SerializationError(f"{exc_type!r} is not an exception reference like 'module:ClassName'")
        return exc_type
    if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
        raise SerializationError(f"{exc_type!r} is not an exception class")
    return f"{exc_type.__module__}:{exc_type.__qualname__}"


def exception_matches(exc: BaseException, refs: Iterable[str]) -> bool:
    """True if ``exc``'s class, or any class it inherits from, is named in ``refs``."""
    wanted = set(refs)
    return any(f"{cls.__module__}:{cls.__qualname__}" in wanted for cls in type(exc).__mro__)


def module_of(ref: str) -> str:
    """The module part of a reference."""
    return ref.partition(":")[0]


def resolve_ref(ref: str) -> Any:
    """Import the module of ``ref`` and walk its qualified name.

    Raises ``ImportError`` (module missing) or ``AttributeError`` (name missing) for the caller to
    report; ``ValueError`` if ``ref`` is not shaped like a reference.
    """
    if REF_PATTERN.fullmatch(ref) is None:
        raise ValueError(f"{ref!r} is not a reference like 'module:qualname'")
    module_name, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
