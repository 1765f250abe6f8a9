"""Which modules a worker may run functions from: its allowed prefixes and the denied modules.

A worker runs a job's function only if the function's module is under one of its allowed module
prefixes (``tasks`` allows ``tasks`` and ``tasks.mail``, not ``tasksx``), or it was started with
``allow_any_module``. Modules that execute code or commands (:data:`DENIED_MODULES` and their
submodules) are never matched implicitly: ``allow_any_module`` does not allow them, and a prefix
allows one only when the prefix is that module or inside it (``--allow-module os`` allows ``os``
and ``os.path``; ``--allow-module asyncio`` does not allow ``asyncio.subprocess``).

Verdicts are cached (bounded, since module names come from messages), so a job costs one dict
lookup once its module has been seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from naq.protocol import ConfigurationError

__all__ = ["DENIED_MODULES", "allowed_prefixes", "denied_root", "refusal"]

DENIED_MODULES: Final = frozenset(
    {
        # processes, shells and the operating system
        "os", "posix", "nt", "subprocess", "_posixsubprocess", "_winapi", "pty", "signal", "platform",
        "shutil", "multiprocessing", "_multiprocessing", "concurrent.futures.process",
        "asyncio.subprocess", "asyncio.base_subprocess", "asyncio.unix_events", "asyncio.windows_events",
        "asyncio.windows_utils", "webbrowser", "pydoc", "ctypes", "_ctypes", "sys",
        # running or importing code
        "builtins", "importlib", "_imp", "imp", "_frozen_importlib", "_frozen_importlib_external",
        "zipimport", "pkgutil", "runpy", "code", "codeop", "pdb", "bdb", "timeit", "trace", "profile",
        "cProfile", "doctest", "site", "logging.config", "ensurepip", "venv", "distutils",
        # unpickling (runs code) and raw object loading
        "pickle", "_pickle", "cloudpickle", "dill", "marshal", "shelve", "copyreg",
        # the network
        "socket", "_socket", "ssl", "_ssl", "http", "urllib", "ftplib", "smtplib", "telnetlib", "xmlrpc",
    }
)  # fmt: skip
"""Standard-library (and pickling) modules that execute code or commands, or reach the network."""

_PREFIX: Final = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")
"""A module prefix: a dotted module name (``tasks``, ``myapp.jobs``)."""


def allowed_prefixes(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """The allowed module prefixes (``None`` if none are given), or ``ConfigurationError``.

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


def _inside(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def denied_root(module: str) -> str | None:
    """The entry of :data:`DENIED_MODULES` that ``module`` is or lies inside, else ``None``."""
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        root = ".".join(parts[:end])
        if root in DENIED_MODULES:
            return root
    return None


def _decide(module: str, allowed: tuple[str, ...] | None, listed: bool) -> str | None:
    denied = denied_root(module)
    if allowed is None:  # allow_any_module: everything but the denied modules
        matched: tuple[str, ...] = () if denied else (module,)
    else:
        matched = tuple(prefix for prefix in allowed if _inside(module, prefix))
        if denied is None and not matched and not listed:
            return None  # only the denied modules are checked here
    if denied is not None and not any(_inside(prefix, denied) for prefix in matched):
        return (
            f"module {module} is in {denied}, which can run code or commands: a worker never runs it "
            f"unless started with --allow-module {denied} (or a module inside it) explicitly"
        )
    if not matched:
        shown = ", ".join(allowed or ())
        return f"module {module} is outside this worker's allowed modules ({shown})"
    return None


_MAX_REMEMBERED: Final = 4096
_UNSEEN: Final = object()
_verdicts: dict[tuple[str, tuple[str, ...] | None, bool], str | None] = {}
"""(module, allowed prefixes, listed) -> refusal reason or ``None``."""


def refusal(module: str, allowed: tuple[str, ...] | None, *, listed: bool = True) -> str | None:
    """Why ``module`` may not be run from (``None``: it may). ``allowed`` ``None`` means any module.

    ``listed=False`` checks only the denied modules: for the module that defines a function
    reached through an allowed module (``tasks:send`` defined in ``mylib.mail``).
    """
    key = (module, allowed, listed)
    verdict = _verdicts.get(key, _UNSEEN)
    if verdict is _UNSEEN:
        verdict = _decide(module, allowed, listed)
        if len(_verdicts) < _MAX_REMEMBERED:  # bounded: module names come from messages
            _verdicts[key] = verdict
    return verdict  # type: ignore[return-value]
