"""Versioned JSON records: frozen dataclasses encoded as ``{"v": 1, "record": ..., fields...}``.

Decoding checks every field against its annotation, so a decoder fed anything (random bytes,
truncated JSON, a wrong version, missing or wrongly typed fields) raises ``SerializationError`` and
nothing else. Unknown fields are ignored: a newer producer may add optional fields within a schema
version without breaking older workers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from functools import cache
from typing import Any, ClassVar, Literal, Self, Union, get_args, get_origin

from naq.protocol.errors import SerializationError

__all__ = ["ENVELOPE_KEYS", "SCHEMA_VERSION", "Record", "dumps", "loads_object"]

SCHEMA_VERSION = 1
"""Version written into every record; a decoder refuses any other."""

ENVELOPE_KEYS = ("v", "record")
"""Keys every encoded record starts with (schema version, record kind); no record field may use them."""

_MAX_RECORD_BYTES = 64 * 1024**2


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused (they are not JSON).

    Text with lone surrogates (valid in JSON escapes, invalid in UTF-8) falls back to ASCII
    escapes, so every record that decoded can be encoded again (e.g. into the dead-letter queue).
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def loads_object(data: bytes | bytearray | memoryview | str, what: str) -> dict[str, Any]:
    """Parse ``data`` as one JSON object, raising ``SerializationError`` for anything else."""
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise SerializationError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > _MAX_RECORD_BYTES:
        raise SerializationError(f"{what}: {len(data)} bytes is larger than any naq record")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{what}: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SerializationError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


class _Mismatch(Exception):
    """A value does not fit its annotation; carries the path and the reason."""


def _convert(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` (decoded JSON) against ``hint`` and convert lists to tuples, dicts to records."""
    if hint is Any:
        return value
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        for option in get_args(hint):
            try:
                return _convert(value, option, path)
            except _Mismatch:
                continue
        raise _Mismatch(f"{path}: {value!r} is none of {hint}")
    if origin is Literal:
        if isinstance(value, str) and value in get_args(hint):
            return value
        raise _Mismatch(f"{path}: {value!r} is not one of {get_args(hint)}")
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch(f"{path}: expected null")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch(f"{path}: expected a boolean")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch(f"{path}: expected an integer")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond float range
                number = math.inf
            if math.isfinite(number):
                return number
        raise _Mismatch(f"{path}: expected a finite number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch(f"{path}: expected a string")
    if origin is tuple:
        if not isinstance(value, list):
            raise _Mismatch(f"{path}: expected a list")
        item = get_args(hint)[0]
        return tuple(_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"{path}: expected an object")
        item = get_args(hint)[1]
        return {k: _convert(v, item, f"{path}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Record):
        if not isinstance(value, dict):
            raise _Mismatch(f"{path}: expected an object")
        return hint._from_fields(value, path)
    if isinstance(hint, type) and issubclass(hint, str):  # StrEnum
        try:
            return hint(value)
        except ValueError:
            raise _Mismatch(f"{path}: {value!r} is not a valid {hint.__name__}") from None
    raise TypeError(f"unsupported annotation {hint!r} at {path}")  # a bug in a record definition


def _plain(value: Any) -> Any:
    """A record's field value as JSON data (records nested as objects, tuples as lists)."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class Record:
    """Base of naq's frozen dataclass records; subclasses set ``KIND``.

    ``encode()`` gives versioned JSON bytes; ``decode(data)`` rebuilds the record or raises
    ``SerializationError``. Field values are validated by the subclass's ``__post_init__``.
    """

    KIND: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The record's fields as JSON data, without the envelope keys."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def encode(self) -> bytes:
        """The record as versioned JSON bytes."""
        try:
            return dumps({"v": SCHEMA_VERSION, "record": self.KIND, **self.to_dict()})
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"{self.KIND} record cannot be encoded as JSON: {exc}") from None

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview | str) -> Self:
        """Rebuild a record from :meth:`encode`'s bytes; anything else raises ``SerializationError``."""
        what = f"{cls.KIND} record"
        obj = loads_object(data, what)
        version, kind = obj.get("v"), obj.get("record")
        if type(version) is not int or version != SCHEMA_VERSION:
            raise SerializationError(f"{what}: unsupported schema version {version!r} (expected {SCHEMA_VERSION})")
        if kind != cls.KIND:
            raise SerializationError(f"{what}: the message is a {kind!r} record")
        return cls._from_fields(obj, cls.KIND)

    @classmethod
    def _from_fields(cls, obj: dict[str, Any], path: str) -> Self:
        hints = _hints(cls)
        values: dict[str, Any] = {}
        try:
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                if f.name in obj:
                    values[f.name] = _convert(obj[f.name], hints[f.name], f"{path}.{f.name}")
                elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise _Mismatch(f"{path}: missing field {f.name!r}")
            return cls(**values)
        except _Mismatch as exc:
            raise SerializationError(f"invalid {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise SerializationError(f"invalid {path}: {exc}") from None
