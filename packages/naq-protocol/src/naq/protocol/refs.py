"""References ``module:qualname`` to functions and exception classes, and their resolution.

A JSON job names its function by reference and the worker imports it; ``retry_on`` and
``ignore_on`` name exception classes the same way, so they survive any serializer and are matched
against the raised exception's class hierarchy without importing anything.

naq's own errors are named by their public wire name (``WIRE_NAME``, see :mod:`naq.protocol.errors`):
``naq.worker:JobTimeoutError``, not the module that defines it. A reference to one of them by a
name it had before (``naq.worker._executor:JobTimeoutError``, as older jobs carry in ``retry_on``)
is read as its wire name, so stored jobs and results keep matching.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from naq.protocol import errors
from naq.protocol.errors import SerializationError

__all__ = [
    "REF_PATTERN",
    "canonical_exception_ref",
    "describe_callable",
    "exception_matches",
    "exception_ref",
    "function_ref",
    "module_of",
    "resolve_ref",
    "walk_ref",
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


def _class_ref(cls: type) -> str:
    # The class's own WIRE_NAME only: a user's subclass of a naq error is named as itself.
    wire = vars(cls).get("WIRE_NAME")
    return wire if isinstance(wire, str) else f"{cls.__module__}:{cls.__qualname__}"


_EXPORTED_FROM: Final = ("naq.protocol", "naq.client")
"""Public modules that re-export every naq error: a name through one of them means the same class."""


def _wire_names() -> dict[str, str]:
    """Every name a naq error is, was, or may be written under, to its wire name."""
    table: dict[str, str] = {}
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.NaqError):
            wire = _class_ref(cls)
            names = [f"{cls.__module__}:{cls.__qualname__}", *vars(cls).get("FORMER_WIRE_NAMES", ())]
            names += [f"{module}:{cls.__qualname__}" for module in _EXPORTED_FROM]
            for name in (*names, wire):
                table[name] = wire
    return table


_WIRE_NAMES: Final = _wire_names()


def canonical_exception_ref(ref: str) -> str:
    """``ref`` as naq names that class now: a naq error's former or defining name becomes its wire
    name (``naq.worker._executor:JobTimeoutError`` -> ``naq.worker:JobTimeoutError``); any other
    reference is returned unchanged (not checked)."""
    return _WIRE_NAMES.get(ref, ref)


def exception_ref(exc_type: type[BaseException] | str) -> str:
    """Reference of an exception class: a naq error's wire name, else ``module:qualname``.

    A reference string is checked and returned in its canonical form
    (:func:`canonical_exception_ref`), so the class and its name give the same reference.
    """
    if isinstance(exc_type, str):
        if REF_PATTERN.fullmatch(exc_type) is None:
            raise SerializationError(f"{exc_type!r} is not an exception reference like 'module:ClassName'")
        return canonical_exception_ref(exc_type)
    if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
        raise SerializationError(f"{exc_type!r} is not an exception class")
    return _class_ref(exc_type)


def exception_matches(exc: BaseException, refs: Iterable[str]) -> bool:
    """True if ``exc``'s class, or any class it inherits from, is named in ``refs`` (by its wire
    name, or by a name it had before)."""
    wanted = {_WIRE_NAMES.get(ref, ref) for ref in refs}
    return any(_class_ref(cls) in wanted for cls in type(exc).__mro__)


def module_of(ref: str) -> str:
    """The module part of a reference."""
    return ref.partition(":")[0]


def resolve_ref(ref: str) -> Any:
    """Import the module of ``ref`` and walk its qualified name.

    Raises ``ImportError`` (module missing) or ``AttributeError`` (name missing) for the caller to
    report; ``ValueError`` if ``ref`` is not shaped like a reference.
    """
    return walk_ref(ref)[0]


def walk_ref(ref: str) -> tuple[Any, tuple[str, ...]]:
    """:func:`resolve_ref`, with the names of the modules its qualified name walked through
    (``tasks:os.system`` passes through ``os``), for a caller that must vet them too."""
    if REF_PATTERN.fullmatch(ref) is None:
        raise ValueError(f"{ref!r} is not a reference like 'module:qualname'")
    module_name, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    walked: list[str] = []
    for part in qualname.split("."):
        obj = getattr(obj, part)
        if inspect.ismodule(obj):
            walked.append(obj.__name__)
    return obj, tuple(walked)
