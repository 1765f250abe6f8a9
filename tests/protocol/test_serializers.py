"""Serializers: JSON checks arguments and names the bad one; pickle is explicit and carries anything."""

from __future__ import annotations

import base64
import datetime
import pickle

import pytest

from naq.protocol import SerializationError, get_serializer
from naq.protocol.serializers import JsonSerializer, PickleSerializer, check_json_value


def add(a: int, b: int) -> int:
    return a + b


def test_json_call_round_trip() -> None:
    serializer = JsonSerializer()
    payload = serializer.dump_call(add, (1, [2, {"x": None}]), {"flag": True, "ratio": 0.5})
    func, args, kwargs = serializer.load_call(payload)
    assert func is None  # resolved by reference from the envelope
    assert args == [1, [2, {"x": None}]]
    assert kwargs == {"flag": True, "ratio": 0.5}


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        ((datetime.date(2026, 1, 1),), {}, "positional argument 0"),
        ((), {"when": {1, 2}}, "argument 'when'"),
        ((), {"nested": {"deep": [1, object()]}}, "argument 'nested'['deep'][1]"),
        ((), {"keys": {1: "int key"}}, "non-string key 1"),
        ((float("nan"),), {}, "positional argument 0 is nan"),
        ((b"bytes",), {}, "positional argument 0 is a builtins.bytes"),
    ],
)
def test_json_refuses_non_json_arguments_naming_them(args, kwargs, where: str) -> None:
    with pytest.raises(SerializationError) as info:
        JsonSerializer().dump_call(add, args, kwargs)
    assert where in str(info.value)


def test_json_refuses_self_containing_values() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="nested more than"):
        check_json_value(loop, "argument 'loop'")


def test_json_values_and_results() -> None:
    serializer = get_serializer("json")
    assert serializer.load_value(serializer.dump_value({"ok": [1, 2.5, "x"]})) == {"ok": [1, 2.5, "x"]}
    with pytest.raises(SerializationError, match="return value"):
        serializer.dump_value(object())


def test_pickle_carries_lambdas_and_arbitrary_objects() -> None:
    serializer = get_serializer("pickle")
    payload = serializer.dump_call(lambda x: x * 2, (datetime.date(2026, 1, 1),), {"s": {1, 2}})
    assert isinstance(payload, str)
    func, args, kwargs = serializer.load_call(payload)
    assert func is not None
    assert func(21) == 42
    assert args == [datetime.date(2026, 1, 1)]
    assert kwargs == {"s": {1, 2}}
    assert serializer.load_value(serializer.dump_value({1, 2})) == {1, 2}


def test_pickle_errors_are_serialization_errors() -> None:
    import threading

    serializer = PickleSerializer()
    with pytest.raises(SerializationError, match="cannot be pickled"):
        serializer.dump_value(threading.Lock())
    with pytest.raises(SerializationError, match="base64"):
        serializer.load_value("not base64 !!")
    with pytest.raises(SerializationError, match="cannot be unpickled"):
        serializer.load_value(base64.b64encode(b"garbage").decode())
    not_a_call = base64.b64encode(pickle.dumps([1, 2, 3])).decode()
    with pytest.raises(SerializationError, match="triple"):
        serializer.load_call(not_a_call)


def test_unknown_serializer_is_a_clear_error() -> None:
    with pytest.raises(SerializationError, match="unknown serializer 'yaml'"):
        get_serializer("yaml")
