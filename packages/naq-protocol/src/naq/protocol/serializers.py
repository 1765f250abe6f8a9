"""How a job's call (function and arguments) becomes a JSON-embeddable payload, and back.

``json`` (the default) names the function by reference and accepts only JSON types as arguments;
``pickle`` (cloudpickle, opt-in on the producer and allowed on the worker) carries any picklable
callable and arguments, base64-encoded. Results use the same serializer as their job.
"""

from __future__ import annotations

import base64
import binascii
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol, runtime_checkable

from naq.protocol.errors import SerializationError

__all__ = [
    "SERIALIZER_NAMES",
    "JsonSerializer",
    "PickleSerializer",
    "Serializer",
    "SerializerName",
    "check_json_value",
    "get_serializer",
]

SerializerName = Literal["json", "pickle"]
"""Names a job's ``serializer`` field may carry."""

SERIALIZER_NAMES: Final[tuple[SerializerName, ...]] = ("json", "pickle")
"""Every serializer naq knows."""

_MAX_DEPTH = 100


@runtime_checkable
class Serializer(Protocol):
    """Turns a call's arguments (and, for pickle, the function) into a payload and back."""

    name: SerializerName

    def dump_call(self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """A JSON-compatible payload for the call; ``SerializationError`` names a bad argument."""
        ...

    def load_call(self, payload: Any) -> tuple[Callable[..., Any] | None, list[Any], dict[str, Any]]:
        """(function or ``None`` when it is resolved by reference, args, kwargs) from a payload."""
        ...

    def dump_value(self, value: Any) -> Any:
        """A JSON-compatible form of a job's return value."""
        ...

    def load_value(self, data: Any) -> Any:
        """The return value back from :meth:`dump_value`'s form."""
        ...


def check_json_value(value: Any, where: str, _depth: int = 0) -> None:
    """Raise ``SerializationError`` naming ``where`` if ``value`` is not plain JSON data.

    Allowed: ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists and tuples (they arrive as
    lists) of those, and dicts with string keys. Nothing is converted silently.
    """
    if _depth > _MAX_DEPTH:
        raise SerializationError(f"{where} is nested more than {_MAX_DEPTH} levels deep (or contains itself)")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{where} is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]", _depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(f"{where} has a non-string key {key!r}; JSON object keys must be strings")
            check_json_value(item, f"{where}[{key!r}]", _depth + 1)
        return
    raise SerializationError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which is not a JSON type "
        "(use None, bool, int, float, str, list or dict with str keys, or serializer='pickle')"
    )


class JsonSerializer:
    """Arguments as plain JSON; the function travels as a reference (resolved by the worker)."""

    name: SerializerName = "json"

    def dump_call(self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """``{"args": [...], "kwargs": {...}}`` after checking each argument is JSON."""
        for i, arg in enumerate(args):
            check_json_value(arg, f"positional argument {i}")
        for key, arg in kwargs.items():
            check_json_value(arg, f"argument {key!r}")
        return {"args": list(args), "kwargs": dict(kwargs)}

    def load_call(self, payload: Any) -> tuple[Callable[..., Any] | None, list[Any], dict[str, Any]]:
        """Arguments back; the function is ``None`` (the caller resolves the job's reference)."""
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("args"), list)
            or not isinstance(payload.get("kwargs"), dict)
        ):
            raise SerializationError("json payload must be an object with an 'args' list and a 'kwargs' object")
        return None, list(payload["args"]), dict(payload["kwargs"])

    def dump_value(self, value: Any) -> Any:
        """The value itself, after checking it is JSON."""
        check_json_value(value, "the job's return value")
        return value

    def load_value(self, data: Any) -> Any:
        """The value itself."""
        return data


def _cloudpickle() -> Any:
    try:
        import cloudpickle  # noqa: PLC0415 - optional dependency, imported only when pickle is chosen
    except ImportError:
        raise SerializationError(
            "the pickle serializer needs cloudpickle: pip install 'naq-protocol[pickle]'"
        ) from None
    return cloudpickle


class PickleSerializer:
    """Function and arguments pickled with cloudpickle, base64 in the payload. Opt-in only.

    Unpickling runs code chosen by whoever published the job, so workers accept pickle payloads
    only when ``NAQ_ALLOW_PICKLE`` is true.
    """

    name: SerializerName = "pickle"

    def _dump(self, obj: Any, what: str) -> str:
        try:
            return base64.b64encode(_cloudpickle().dumps(obj)).decode("ascii")
        except SerializationError:
            raise
        except Exception as exc:  # pickling may fail with almost any error type
            raise SerializationError(f"{what} cannot be pickled: {type(exc).__name__}: {exc}") from None

    def _load(self, data: Any, what: str) -> Any:
        if not isinstance(data, str):
            raise SerializationError(f"pickle {what} must be a base64 string")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationError(f"pickle {what} is not valid base64") from None
        _cloudpickle()  # cloudpickle-pickled functions may need its helpers importable
        try:
            return pickle.loads(raw)  # noqa: S301 - only reached when the worker allows pickle
        except Exception as exc:  # a corrupt or hostile pickle can raise anything
            raise SerializationError(f"pickle {what} cannot be unpickled: {type(exc).__name__}: {exc}") from None

    def dump_call(self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """Base64 of the pickled ``(func, args, kwargs)``."""
        return self._dump((func, tuple(args), dict(kwargs)), "the job's function or arguments")

    def load_call(self, payload: Any) -> tuple[Callable[..., Any] | None, list[Any], dict[str, Any]]:
        """The function and arguments unpickled."""
        call = self._load(payload, "payload")
        if not (
            isinstance(call, tuple)
            and len(call) == 3
            and callable(call[0])
            and isinstance(call[1], tuple)
            and isinstance(call[2], dict)
        ):
            raise SerializationError("pickle payload is not a (function, args, kwargs) triple")
        return call[0], list(call[1]), call[2]

    def dump_value(self, value: Any) -> Any:
        """Base64 of the pickled value."""
        return self._dump(value, "the job's return value")

    def load_value(self, data: Any) -> Any:
        """The value unpickled."""
        return self._load(data, "value")


_SERIALIZERS: Final[dict[str, Serializer]] = {"json": JsonSerializer(), "pickle": PickleSerializer()}


def get_serializer(name: str) -> Serializer:
    """The serializer called ``name`` (``json`` or ``pickle``); ``SerializationError`` otherwise."""
    try:
        return _SERIALIZERS[name]
    except (KeyError, TypeError):
        raise SerializationError(f"unknown serializer {name!r}; use one of {', '.join(SERIALIZER_NAMES)}") from None
