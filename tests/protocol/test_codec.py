"""The record codec itself: envelope keys are reserved, encoding is compact and deterministic."""

from __future__ import annotations

import dataclasses
import json

import pytest

import naq.protocol
from naq.protocol import Record, SerializationError
from naq.protocol._codec import ENVELOPE_KEYS, SCHEMA_VERSION, loads_object

RECORD_CLASSES = [obj for obj in vars(naq.protocol).values() if isinstance(obj, type) and issubclass(obj, Record)]


def test_every_record_class_is_exported() -> None:
    assert {cls.__name__ for cls in RECORD_CLASSES} >= {
        "JobEnvelope",
        "ResultRecord",
        "FailedJobRecord",
        "UndecodableMessageRecord",
        "JobStatusRecord",
        "ParkedJobRecord",
        "ScheduleRecord",
        "WorkerHeartbeat",
        "EventRecord",
        "ErrorInfo",
    }


@pytest.mark.parametrize("cls", [c for c in RECORD_CLASSES if c is not Record], ids=lambda c: c.__name__)
def test_no_field_shadows_an_envelope_key(cls: type[Record]) -> None:
    # A field called "record" or "v" would overwrite the envelope and make the record undecodable.
    assert not {f.name for f in dataclasses.fields(cls)} & set(ENVELOPE_KEYS)  # type: ignore[arg-type]


def test_kinds_are_distinct() -> None:
    kinds = [cls.KIND for cls in RECORD_CLASSES if cls is not Record]
    assert len(kinds) == len(set(kinds))


def test_envelope_layout() -> None:
    error = naq.protocol.ErrorInfo(type="builtins:ValueError", message="bad", traceback="")
    encoded = error.encode()
    assert encoded == b'{"v":1,"record":"error","type":"builtins:ValueError","message":"bad","traceback":""}'
    assert json.loads(encoded)["v"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe", b"[1,2]", b"NaN", b'{"a": Infinity}', b"[" * 100_000, 5, None],
)
def test_loads_object_refuses_everything_but_one_json_object(data: object) -> None:
    with pytest.raises(SerializationError):
        loads_object(data, "test record")  # type: ignore[arg-type]


def test_lone_surrogates_survive_a_re_encoding() -> None:
    # "\ud800" is a valid JSON escape but not valid UTF-8: a decoded job must still be encodable
    # (the worker re-encodes it into the dead-letter queue).
    encoded = b'{"v":1,"record":"error","type":"m:E","message":"\\ud800","traceback":""}'
    error = naq.protocol.ErrorInfo.decode(encoded)
    assert naq.protocol.ErrorInfo.decode(error.encode()) == error


@pytest.mark.parametrize("version", [1.0, True, "1", 2, None])
def test_only_the_integer_schema_version_is_accepted(version: object) -> None:
    body = json.dumps({"v": version, "record": "error", "type": "m:E", "message": "", "traceback": ""})
    with pytest.raises(SerializationError, match="schema version"):
        naq.protocol.ErrorInfo.decode(body)


def test_trusted_builds_the_same_record_as_the_checked_constructor() -> None:
    values = {"kind": "started", "queue": "default", "at": 1.5, "job_id": "j1", "worker_id": "w1"}
    checked = naq.protocol.EventRecord(**values)  # type: ignore[arg-type]
    trusted = naq.protocol.EventRecord.trusted(**values)
    assert trusted == checked
    assert trusted.encode() == checked.encode()
    assert trusted.data == {}
    assert trusted.data is not naq.protocol.EventRecord.trusted(**values).data  # factories run per record
