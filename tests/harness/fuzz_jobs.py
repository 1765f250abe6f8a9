"""Harmless job functions for the worker's fuzz test (``tests/worker/test_message_fuzz.py``).

The fuzzer calls whatever attribute of this module a random message names, so the module holds
nothing with a side effect: no file, process or network access, and no imports but the future one.
"""

from __future__ import annotations


def echo(*args: object, **kwargs: object) -> dict[str, object]:
    """Return the arguments (JSON in, JSON out)."""
    return {"args": list(args), "kwargs": kwargs}


async def async_echo(*args: object, **kwargs: object) -> dict[str, object]:
    """Return the arguments from a coroutine."""
    return {"args": list(args), "kwargs": kwargs}


def fail(*args: object, **kwargs: object) -> None:
    """Always raise (a retryable error)."""
    raise RuntimeError(f"planned failure with {len(args)} argument(s)")


def exit_now(*args: object, **kwargs: object) -> None:
    """Raise ``SystemExit``, which must not stop the worker."""
    raise SystemExit(3)


def unserializable(*args: object, **kwargs: object) -> object:
    """Return a value the JSON serializer cannot store."""
    return {1, 2, 3}


def canary(token: str) -> str:
    """The valid job the fuzz test sends after each batch: returns its token."""
    return token
