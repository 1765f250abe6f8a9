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
from collections.abc import Callable
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


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""One decoder for every record: ``json.loads`` with an argument would build a new one per call."""


def loads_object(data: bytes | bytearray | memoryview | str, what: str) -> dict[str, Any]:
    """Parse ``data`` as one JSON object, raising ``SerializationError`` for anything else."""
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise SerializationError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > _MAX_RECORD_BYTES:
        raise SerializationError(f"{what}: {len(data)} bytes is larger than any naq record")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        value = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{what}: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SerializationError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


class _Mismatch(Exception):
    """A value does not fit its annotation; ``where`` grows into a path on the way out."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where

    def at(self, prefix: str) -> _Mismatch:
        """The same mismatch, one level further out."""
        return _Mismatch(self.reason, prefix + self.where)


Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _expect(check: Callable[[Any], bool], what: str) -> Converter:
    def convert(value: Any) -> Any:
        if check(value):
            return value
        raise _Mismatch(f"expected {what}, got {value!r}")

    return convert


def _finite_number(value: Any) -> float:
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
    elif kind is int:
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range
            pass
    raise _Mismatch(f"expected a finite number, got {value!r}")


@cache
def _compile(hint: Any) -> Converter:
    """A converter that checks a decoded JSON value against ``hint`` (lists become tuples, objects
    records); built once per annotation, so decoding does no type introspection."""
    if hint is Any:
        return _identity
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        nullable = type(None) in get_args(hint)
        options = [_compile(option) for option in get_args(hint) if option is not type(None)]

        def union(value: Any) -> Any:
            if value is None and nullable:  # most optional fields are null: no failed tries first
                return None
            for option in options:
                try:
                    return option(value)
                except _Mismatch:
                    continue
            raise _Mismatch(f"{value!r} is none of {hint}")

        return union
    if origin is Literal:
        allowed = frozenset(get_args(hint))
        return _expect(lambda v: type(v) is str and v in allowed, f"one of {sorted(allowed)}")
    if hint is type(None):
        return _expect(lambda v: v is None, "null")
    if hint is bool:
        return _expect(lambda v: v is True or v is False, "a boolean")
    if hint is int:
        return _expect(lambda v: type(v) is int, "an integer")
    if hint is float:
        return _finite_number
    if hint is str:
        return _expect(lambda v: type(v) is str, "a string")
    if origin is tuple:
        item = _compile(get_args(hint)[0])

        def sequence(value: Any) -> tuple[Any, ...]:
            if type(value) is not list:
                raise _Mismatch(f"expected a list, got {value!r}")
            converted = []
            for i, element in enumerate(value):
                try:
                    converted.append(item(element))
                except _Mismatch as exc:
                    raise exc.at(f"[{i}]") from None
            return tuple(converted)

        return sequence
    if origin is dict:
        item = _compile(get_args(hint)[1])

        def mapping(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise _Mismatch(f"expected an object, got {value!r}")
            if item is _identity:
                return value
            converted = {}
            for key, element in value.items():
                try:
                    converted[key] = item(element)
                except _Mismatch as exc:
                    raise exc.at(f".{key}") from None
            return converted

        return mapping
    if isinstance(hint, type) and issubclass(hint, Record):

        def record(value: Any) -> Any:
            if type(value) is not dict:
                raise _Mismatch(f"expected an object, got {value!r}")
            return hint._from_fields(value)

        return record
    if isinstance(hint, type) and issubclass(hint, str):  # StrEnum

        def enumeration(value: Any) -> Any:
            try:
                return hint(value)
            except ValueError:
                raise _Mismatch(f"{value!r} is not a valid {hint.__name__}") from None

        return enumeration
    raise TypeError(f"unsupported annotation {hint!r}")  # a bug in a record definition


def _json_default(value: Any) -> Any:
    if isinstance(value, Record):
        return value._shallow()
    raise TypeError(f"{type(value).__name__} is not JSON data")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_json_default)


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON (nested records as objects); NaN and infinities are refused.

    Text with lone surrogates (valid in JSON escapes, invalid in UTF-8) falls back to ASCII
    escapes, so every record that decoded can be encoded again (e.g. into the dead-letter queue).
    """
    try:
        return _ENCODER.encode(value).encode()
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(value).encode()


def _plain(value: Any) -> Any:
    """A field value as plain JSON data (records nested as objects, tuples as lists)."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def _defaults(cls: type) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    """(name, default, default factory) of each field of record class ``cls``."""
    return tuple(
        (
            f.name,
            None if f.default is dataclasses.MISSING else f.default,
            None if f.default_factory is dataclasses.MISSING else f.default_factory,
        )
        for f in dataclasses.fields(cls)
    )


_REQUIRED = object()


@cache
def _plain_defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, default) of each field of record class ``cls``; a sentinel for fields without a
    plain default (required, or a default factory), which are therefore always encoded."""
    return tuple(
        (f.name, _REQUIRED if f.default is dataclasses.MISSING else f.default) for f in dataclasses.fields(cls)
    )


@cache
def _fields(cls: type) -> tuple[tuple[str, Converter, bool], ...]:
    """(name, converter, required) of each field of record class ``cls``."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            _compile(hints[f.name]),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


class Record:
    """Base of naq's frozen dataclass records; subclasses set ``KIND``.

    ``encode()`` gives versioned JSON bytes; ``decode(data)`` rebuilds the record or raises
    ``SerializationError``. Field values are validated by the subclass's ``__post_init__``.
    """

    KIND: ClassVar[str]
    OMIT_DEFAULTS: ClassVar[bool] = False
    """Whether :meth:`encode` leaves out fields that hold their default: set for records sent in
    bulk (the job envelope), so most of an ordinary job's options never travel. Nested records are
    always encoded whole."""

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """Build a record from values that are already valid, skipping its checks.

        For hot paths whose values all come from records that were checked when they were built or
        decoded (a job's id and queue, the worker's id). Fields left out take their defaults.
        """
        record = object.__new__(cls)
        for name, default, factory in _defaults(cls):
            if name in values:
                value = values[name]
            elif factory is None:
                value = default
            else:
                value = factory()
            object.__setattr__(record, name, value)
        return record

    def to_dict(self) -> dict[str, Any]:
        """The record's fields as plain JSON data, without the envelope keys."""
        return {name: _plain(getattr(self, name)) for name, _, _ in _fields(type(self))}

    def _shallow(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, _, _ in _fields(type(self))}

    def _compact(self) -> dict[str, Any]:
        """The fields without those that hold their plain default (decoding restores them)."""
        fields: dict[str, Any] = {}
        for name, default in _plain_defaults(type(self)):
            value = getattr(self, name)
            # ``type`` too: 0 == False == 0.0, and a default must come back with its own type.
            if value is default or (type(value) is type(default) and value == default):
                continue
            fields[name] = value
        return fields

    def encode(self) -> bytes:
        """The record as versioned JSON bytes (compact for classes with ``OMIT_DEFAULTS``)."""
        try:
            fields = self._compact() if self.OMIT_DEFAULTS else self._shallow()
            return dumps({"v": SCHEMA_VERSION, "record": self.KIND, **fields})
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
        try:
            return cls._from_fields(obj)
        except _Mismatch as exc:
            raise SerializationError(f"invalid {cls.KIND}{exc.where}: {exc.reason}") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise SerializationError(f"invalid {cls.KIND}: {exc}") from None

    @classmethod
    def _from_fields(cls, obj: dict[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for name, convert, required in _fields(cls):
            if name in obj:
                try:
                    values[name] = convert(obj[name])
                except _Mismatch as exc:
                    raise exc.at(f".{name}") from None
            elif required:
                raise _Mismatch(f"missing field {name!r}")
        try:
            return cls(**values)
        except _Mismatch:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            # The record's own checks (ids, ranges); a nested record's failure surfaces here too.
            raise _Mismatch(str(exc)) from None
