"""Records: every record class survives ``decode(encode())``, and bad records fail with clear errors.

Each class is built in several realistic shapes (optional fields set and unset, nested records,
a number and a per-attempt list as ``retry_delay``) and must come back equal whether the decoder
is given bytes, str, a bytearray or a memoryview. A hypothesis property does the same for
generated job envelopes. The error tests pin what a user reads: the wrong kind, the wrong version,
the bad id, the inconsistent field.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import operator
import re
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naq.protocol import (
    SCHEMA_VERSION,
    ErrorInfo,
    EventKind,
    EventRecord,
    FailedJobRecord,
    JobEnvelope,
    JobStatus,
    JobStatusRecord,
    LeaderLockRecord,
    ParkedJobRecord,
    Record,
    ResultRecord,
    ScheduleRecord,
    ScheduleStatus,
    SerializationError,
    SystemEventKind,
    UndecodableMessageRecord,
    WorkerHeartbeat,
    WorkerStatus,
)
from naq.protocol._codec import ENVELOPE_KEYS

VERSION_KEY, KIND_KEY = ENVELOPE_KEYS
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _raised_error() -> ErrorInfo:
    """An ``ErrorInfo`` from a really raised exception, so its traceback is a real one."""
    try:
        {"user": 1}["email"]
    except KeyError as exc:
        return ErrorInfo.from_exception(exc)
    raise AssertionError("unreachable")


# --- realistic instances ------------------------------------------------------------------------

JOB_MINIMAL = JobEnvelope(
    job_id="3f2a9c0e5b7d4e1f8a6c2b9d0e7f1a3c",
    queue="default",
    function="app.tasks:send_email",
    payload={"args": ["ada@example.com"], "kwargs": {}},
    enqueued_at=T0,
)
JOB_FULL = JobEnvelope(
    job_id="report-2026-01",
    queue="reports",
    function="app.reports.monthly:build",
    payload={"args": [2026, 1], "kwargs": {"format": "pdf", "recipients": ["a@x.io", "b@x.io"], "draft": False}},
    enqueued_at=T0 + 0.125,
    max_retries=5,
    retry_delay=2.5,
    retry_strategy="exponential",
    retry_jitter=True,
    retry_max_delay=300.0,
    retry_on=("builtins:ConnectionError", "app.errors:Transient"),
    ignore_on=("app.errors:Permanent",),
    depends_on=("extract-2026-01", "load_2026_01"),
    timeout=600.0,
    result_ttl=3600,
    dependency_timeout=7200.0,
)
JOB_DELAY_LIST = JobEnvelope(
    job_id="sync-42",
    queue="sync",
    function="app.sync:Syncer.run_all",
    payload={"args": [], "kwargs": {"since": None, "ratio": 0.1, "big": 2**70, "text": "ünïcødé ✓ 日本"}},
    enqueued_at=0.0,
    max_retries=3,
    retry_delay=(1.0, 5.0, 30.0),
    retry_strategy="linear",
    result_ttl=0,
)
JOB_PICKLE = JobEnvelope(
    job_id="pickled_1",
    queue="default",
    function="app.tasks:pickled_call",
    payload=base64.b64encode(b"\x80\x05\x95 not really a pickle").decode("ascii"),
    enqueued_at=T0,
    serializer="pickle",
    retry_delay=(0.0,),
    timeout=0.5,
)
JOB_ODD_PAYLOAD = JobEnvelope(
    job_id="A",
    queue="q-1_x",
    function="m:f",
    payload=[None, True, -1, 1.5e-300, "", [[], {}], {"nested": {"deeper": [1, 2, 3]}}],
    enqueued_at=1e-9,
    retry_delay=0.0,
)
JOBS = [JOB_MINIMAL, JOB_FULL, JOB_DELAY_LIST, JOB_PICKLE, JOB_ODD_PAYLOAD]

ERRORS = [
    ErrorInfo(type="builtins:ValueError", message="bad value"),
    ErrorInfo(type="app.errors:Transient", message="timed out after 30 s", traceback="Traceback ...\n  boom\n"),
    ErrorInfo(type="naq.worker:WorkerLost", message="", traceback=""),
    _raised_error(),
]

RESULTS = [
    ResultRecord(job_id=JOB_MINIMAL.job_id, queue="default", status="completed", attempts=1, finished_at=T0 + 1),
    ResultRecord(
        job_id="report-2026-01",
        queue="reports",
        status="completed",
        attempts=2,
        finished_at=T0 + 61.5,
        value={"pages": 12, "url": "s3://bucket/report.pdf", "sizes": [1.5, 2.25]},
        started_at=T0 + 60.0,
        worker_id="host-a-1234",
    ),
    ResultRecord(
        job_id="sync-42",
        queue="sync",
        status="failed",
        attempts=4,
        finished_at=T0 + 100,
        error=_raised_error(),
        started_at=T0 + 99,
        worker_id="w1",
    ),
    ResultRecord(
        job_id="pickled_1",
        queue="default",
        status="cancelled",
        attempts=0,
        finished_at=T0,
        serializer="pickle",
        error=ErrorInfo(type="naq.protocol:Cancelled", message="cancelled by user"),
    ),
    ResultRecord(
        job_id="pickled_2",
        queue="default",
        status="completed",
        attempts=1,
        finished_at=T0,
        value=base64.b64encode(b"\x80\x05N.").decode("ascii"),
        serializer="pickle",
    ),
]

FAILED_JOBS = [
    FailedJobRecord(job=JOB_FULL, error=_raised_error(), attempts=6, failed_at=T0 + 900, worker_id="host-b-99"),
    FailedJobRecord(job=JOB_MINIMAL, error=ERRORS[0], attempts=0, failed_at=T0),
    FailedJobRecord(job=JOB_DELAY_LIST, error=ERRORS[2], attempts=3, failed_at=T0 + 1.5),
]

UNDECODABLES = [
    UndecodableMessageRecord(
        queue="default",
        subject="naq.queue.default",
        stream_sequence=42,
        data=base64.b64encode(b"\xff\xfe not json").decode("ascii"),
        headers={"Nats-Msg-Id": "abc", "Naq-Attempt": "2"},
        error=ErrorInfo(type="naq.protocol:SerializationError", message="job record: not valid UTF-8 JSON"),
        failed_at=T0,
    ),
    UndecodableMessageRecord(
        queue="reports",
        subject="naq.queue.reports",
        stream_sequence=0,
        data="",
        headers={},
        error=ERRORS[1],
        failed_at=T0 + 3,
        job_id="report-2026-01",
    ),
]

STATUSES = [
    JobStatusRecord(job_id="sync-42", queue="sync", status=JobStatus.RETRYING, attempts=2, updated_at=T0 + 5),
    JobStatusRecord(job_id="child-1", queue="default", status=JobStatus.WAITING, attempts=0, updated_at=T0),
    JobStatusRecord(job_id="x", queue="default", status=JobStatus.CANCELLED, attempts=1, updated_at=0.0),
    JobStatusRecord(job_id="y", queue="default", status="queued", attempts=0, updated_at=T0),  # type: ignore[arg-type]
    JobStatusRecord(
        job_id="child-2",
        queue="default",
        status=JobStatus.WAITING,
        attempts=0,
        updated_at=T0,
        waiting_on=("extract-2026-01", "load_2026_01"),
        generation=1_700_000_000_123_456_789,
    ),
]

PARKED = [
    ParkedJobRecord(job=JOB_FULL, generation=1, parked_at=T0, deadline=T0 + 86_400),
    ParkedJobRecord(
        job=JobEnvelope(job_id="c", queue="q", function="m:f", payload=None, enqueued_at=0.0, depends_on=("p",)),
        generation=1_700_000_000_123_456_789,
        parked_at=0.0,
        deadline=0.0,
    ),
]

SCHEDULES = [
    ScheduleRecord(
        schedule_id="nightly-report",
        job=JOB_FULL,
        next_run_at=T0 + 86_400,
        created_at=T0,
        cron="0 2 * * *",
        cron_tz="Europe/Paris",
    ),
    ScheduleRecord(
        schedule_id="poll_feeds",
        job=JOB_MINIMAL,
        next_run_at=T0 + 300,
        created_at=T0 - 3000,
        interval=300.0,
        repeat=10,
        runs=9,
        last_run_at=T0,
        status=ScheduleStatus.PAUSED,
        failures=2,
        last_error="publish timed out",
    ),
    ScheduleRecord(
        schedule_id="s",
        job=JOB_DELAY_LIST,
        next_run_at=0.0,
        created_at=0.0,
        cron="*/5 * * * MON-FRI",
        repeat=1,
        runs=1,
        status=ScheduleStatus.COMPLETED,
    ),
    ScheduleRecord(
        schedule_id=JOB_MINIMAL.job_id,
        job=JOB_MINIMAL,
        next_run_at=T0 + 30,
        created_at=T0,
        pending_run_at=T0 + 30,
    ),
]

LEADER_LOCKS = [
    LeaderLockRecord(instance_id="sched-a-1", hostname="host-a", pid=42, acquired_at=T0, renewed_at=T0 + 3),
    LeaderLockRecord(instance_id="s", hostname="", pid=0, acquired_at=0.0, renewed_at=0.0),
]

HEARTBEATS = [
    WorkerHeartbeat(
        worker_id="host-a-1234",
        hostname="host-a.internal",
        pid=1234,
        queues=("default", "reports"),
        status=WorkerStatus.BUSY,
        concurrency=8,
        started_at=T0,
        heartbeat_at=T0 + 5,
        current_jobs=("report-2026-01", JOB_MINIMAL.job_id),
        processed=10_000,
        failed=3,
        version="0.1.0",
    ),
    WorkerHeartbeat(
        worker_id="w1",
        hostname="",
        pid=0,
        queues=(),
        status=WorkerStatus.STARTING,
        concurrency=1,
        started_at=T0,
        heartbeat_at=T0,
    ),
    WorkerHeartbeat(
        worker_id="w2",
        hostname="laptop",
        pid=99_999,
        queues=("default",),
        status=WorkerStatus.IDLE,
        concurrency=2,
        started_at=T0,
        heartbeat_at=T0 + 3600,
        processed=1,
    ),
]

EVENTS = [
    EventRecord(kind=EventKind.ENQUEUED, queue="default", at=T0, job_id=JOB_MINIMAL.job_id),
    EventRecord(
        kind=EventKind.STARTED,
        queue="reports",
        at=T0 + 60,
        job_id="report-2026-01",
        worker_id="host-a-1234",
        data={"attempt": 2},
    ),
    EventRecord(
        kind=EventKind.FAILED,
        queue="sync",
        at=T0 + 100,
        job_id="sync-42",
        worker_id="w1",
        data={"attempt": 4, "error": {"type": "builtins:KeyError", "message": "'email'"}, "duration": 0.25},
    ),
    EventRecord(kind=SystemEventKind.WORKER_STARTED, queue="_sys", at=T0, worker_id="host-a-1234"),
    EventRecord(kind="custom_kind", queue="default", at=0.0),
]

ALL_RECORDS: list[Record] = [
    *JOBS,
    *ERRORS,
    *RESULTS,
    *FAILED_JOBS,
    *UNDECODABLES,
    *STATUSES,
    *PARKED,
    *SCHEDULES,
    *LEADER_LOCKS,
    *HEARTBEATS,
    *EVENTS,
]


def _record_id(record: Record) -> str:
    """A readable test id: the class and a distinguishing field."""
    name = type(record).__name__
    for field in ("job_id", "schedule_id", "worker_id", "instance_id", "kind", "type"):
        value = getattr(record, field, None)
        if isinstance(value, str):
            return f"{name}-{value[:24]}"
    if isinstance(record, FailedJobRecord):
        return f"{name}-{record.job.job_id[:24]}"
    return name


def _fields(data: bytes) -> dict[str, Any]:
    """The JSON object an encoding holds."""
    value = json.loads(data)
    assert isinstance(value, dict)
    return value


# --- round trips --------------------------------------------------------------------------------


def test_every_record_class_is_covered() -> None:
    classes = {type(record) for record in ALL_RECORDS}
    assert classes == {
        JobEnvelope,
        ErrorInfo,
        ResultRecord,
        FailedJobRecord,
        UndecodableMessageRecord,
        JobStatusRecord,
        ParkedJobRecord,
        ScheduleRecord,
        LeaderLockRecord,
        WorkerHeartbeat,
        EventRecord,
    }


@pytest.mark.parametrize("record", ALL_RECORDS, ids=_record_id)
def test_round_trip(record: Record) -> None:
    data = record.encode()
    assert isinstance(data, bytes)
    decoded = type(record).decode(data)
    assert type(decoded) is type(record)
    assert decoded == record


@pytest.mark.parametrize("record", ALL_RECORDS, ids=_record_id)
def test_decode_accepts_str_bytes_and_buffers(record: Record) -> None:
    data = record.encode()
    cls = type(record)
    assert cls.decode(data.decode("utf-8")) == record
    assert cls.decode(bytearray(data)) == record
    assert cls.decode(memoryview(data)) == record


@pytest.mark.parametrize("record", ALL_RECORDS, ids=_record_id)
def test_encoding_is_versioned_json_of_its_kind(record: Record) -> None:
    obj = _fields(record.encode())
    assert list(obj)[:2] == [VERSION_KEY, KIND_KEY]
    assert obj[VERSION_KEY] == SCHEMA_VERSION == 1
    assert obj[KIND_KEY] == type(record).KIND


@pytest.mark.parametrize("cls", sorted({type(record) for record in ALL_RECORDS}, key=lambda cls: cls.__name__))
def test_no_field_shadows_an_envelope_key(cls: type[Record]) -> None:
    # A field named like an envelope key would overwrite it in the encoding (EventRecord.kind once did).
    assert not {field.name for field in dataclasses.fields(cls)} & set(ENVELOPE_KEYS)  # type: ignore[arg-type]


@pytest.mark.parametrize("record", ALL_RECORDS, ids=_record_id)
def test_encoding_is_stable(record: Record) -> None:
    # Re-encoding a decoded record gives the same bytes: nothing drifts through a KV round trip.
    data = record.encode()
    assert type(record).decode(data).encode() == data


def test_nested_records_come_back_as_records() -> None:
    failed = FailedJobRecord.decode(FAILED_JOBS[0].encode())
    assert isinstance(failed.job, JobEnvelope)
    assert isinstance(failed.error, ErrorInfo)
    assert failed.job.retry_on == ("builtins:ConnectionError", "app.errors:Transient")
    schedule = ScheduleRecord.decode(SCHEDULES[1].encode())
    assert isinstance(schedule.job, JobEnvelope)
    assert schedule.status is ScheduleStatus.PAUSED


def test_retry_delay_keeps_its_shape() -> None:
    assert JobEnvelope.decode(JOB_FULL.encode()).retry_delay == 2.5
    assert JobEnvelope.decode(JOB_DELAY_LIST.encode()).retry_delay == (1.0, 5.0, 30.0)
    assert JobEnvelope.decode(JOB_PICKLE.encode()).retry_delay == (0.0,)


def test_decoded_sequences_are_tuples_and_enums_are_enums() -> None:
    job = JobEnvelope.decode(JOB_FULL.encode())
    assert isinstance(job.depends_on, tuple)
    assert isinstance(job.retry_on, tuple)
    heartbeat = WorkerHeartbeat.decode(HEARTBEATS[0].encode())
    assert heartbeat.queues == ("default", "reports")
    assert heartbeat.status is WorkerStatus.BUSY
    assert JobStatusRecord.decode(STATUSES[3].encode()).status is JobStatus.QUEUED


_REQUIRED_JOB = {"job_id", "queue", "function", "payload", "enqueued_at"}


def test_optional_fields_may_be_absent_from_the_encoding() -> None:
    # An older producer that omits optional fields still produces a decodable job.
    required = {k: v for k, v in _fields(JOB_MINIMAL.encode()).items() if k in _REQUIRED_JOB}
    obj = {VERSION_KEY: 1, KIND_KEY: "job", **required}
    assert JobEnvelope.decode(json.dumps(obj)) == JOB_MINIMAL


def test_unknown_fields_are_ignored() -> None:
    # A newer producer may add optional fields within a schema version.
    obj = _fields(JOB_FULL.encode()) | {"priority": 5, "trace": {"id": "abc"}}
    assert JobEnvelope.decode(json.dumps(obj)) == JOB_FULL


def test_integral_numbers_decode_as_floats() -> None:
    obj = _fields(JOB_MINIMAL.encode()) | {"enqueued_at": 1_767_225_600, "retry_delay": [1, 2]}
    job = JobEnvelope.decode(json.dumps(obj))
    assert isinstance(job.enqueued_at, float)
    assert job.retry_delay == (1.0, 2.0)
    assert all(isinstance(delay, float) for delay in job.retry_delay)  # type: ignore[union-attr]


# --- property: generated job envelopes round-trip -----------------------------------------------

_ID_ALPHABET = string.ascii_letters + string.digits + "_-"
_IDS = st.text(_ID_ALPHABET, min_size=1, max_size=64)
_QUEUES = _IDS.filter(lambda name: name != "_sys")
_IDENTIFIERS = st.builds(
    operator.add,
    st.sampled_from(string.ascii_letters + "_"),
    st.text(string.ascii_letters + string.digits + "_", max_size=12),
)
_REFS = st.builds(
    lambda module, name: f"{'.'.join(module)}:{'.'.join(name)}",
    st.lists(_IDENTIFIERS, min_size=1, max_size=3),
    st.lists(_IDENTIFIERS, min_size=1, max_size=2),
)
_TEXT = st.text(st.characters(codec="utf-8"))


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: hypothesis checks by reading its source that it recurses,
    # and that check misreads lambdas in some versions (a spurious deprecation warning).
    return st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    _json_containers,
    max_leaves=12,
)
_NON_NEGATIVE = st.floats(min_value=0, allow_infinity=False)
_POSITIVE = st.floats(min_value=0, exclude_min=True, allow_infinity=False)


@st.composite
def job_envelopes(draw: st.DrawFn) -> JobEnvelope:
    """Valid job envelopes, every optional field either default or set."""
    job_id = draw(_IDS)
    serializer = draw(st.sampled_from(["json", "pickle"]))
    if serializer == "json":
        payload = draw(
            _JSON
            | st.fixed_dictionaries({"args": st.lists(_JSON, max_size=4), "kwargs": st.dictionaries(_TEXT, _JSON)})
        )
    else:
        payload = base64.b64encode(draw(st.binary())).decode("ascii")
    return JobEnvelope(
        job_id=job_id,
        queue=draw(_QUEUES),
        function=draw(_REFS),
        payload=payload,
        enqueued_at=draw(_NON_NEGATIVE),
        serializer=serializer,
        max_retries=draw(st.integers(min_value=0)),
        retry_delay=draw(_NON_NEGATIVE | st.lists(_NON_NEGATIVE, min_size=1, max_size=5).map(tuple)),
        retry_strategy=draw(st.sampled_from(["fixed", "linear", "exponential"])),
        retry_jitter=draw(st.booleans()),
        retry_max_delay=draw(st.none() | _POSITIVE),
        retry_on=tuple(draw(st.lists(_REFS, max_size=3))),
        ignore_on=tuple(draw(st.lists(_REFS, max_size=3))),
        depends_on=tuple(dep for dep in draw(st.lists(_IDS, max_size=4, unique=True)) if dep != job_id),
        timeout=draw(st.none() | _POSITIVE),
        result_ttl=draw(st.none() | st.integers(min_value=0)),
    )


@given(job=job_envelopes())
def test_job_envelope_round_trip_property(job: JobEnvelope) -> None:
    data = job.encode()
    assert JobEnvelope.decode(data) == job
    assert JobEnvelope.decode(data.decode("utf-8")) == job
    assert JobEnvelope.decode(data).encode() == data


def test_a_job_envelope_leaves_out_the_options_that_hold_their_defaults() -> None:
    payload = {"args": [], "kwargs": {}}
    plain = JobEnvelope(job_id="j1", queue="default", function="m:f", payload=payload, enqueued_at=1.0)
    assert set(json.loads(plain.encode())) == {"v", "record", "job_id", "queue", "function", "payload", "enqueued_at"}
    assert JobEnvelope.decode(plain.encode()) == plain

    tuned = dataclasses.replace(plain, max_retries=2, retry_delay=(1.0, 2.0), timeout=5.0, depends_on=("j0",))
    obj = json.loads(tuned.encode())
    assert {key: obj[key] for key in ("max_retries", "retry_delay", "timeout", "depends_on")} == {
        "max_retries": 2,
        "retry_delay": [1.0, 2.0],
        "timeout": 5.0,
        "depends_on": ["j0"],
    }
    assert "retry_strategy" not in obj
    assert JobEnvelope.decode(tuned.encode()) == tuned


def test_a_job_inside_a_dead_letter_record_is_encoded_whole() -> None:
    job = JobEnvelope(job_id="j1", queue="default", function="m:f", payload=None, enqueued_at=1.0)
    error = ErrorInfo(type="builtins:ValueError", message="x")
    failed = FailedJobRecord(job=job, error=error, attempts=1, failed_at=2.0)
    nested = json.loads(failed.encode())["job"]
    assert {"max_retries", "retry_delay", "timeout", "payload"} <= set(nested), "readable as stored"
    assert nested["payload"] is None
    assert JobEnvelope.decode(job.encode()) == job, "a null payload is still encoded (it has no default)"


# --- decoding errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "other"),
    [
        (JobEnvelope, RESULTS[0]),
        (ResultRecord, JOB_MINIMAL),
        (ScheduleRecord, HEARTBEATS[0]),
        (FailedJobRecord, JOB_FULL),
        (JobStatusRecord, RESULTS[1]),
        (WorkerHeartbeat, STATUSES[0]),
        (UndecodableMessageRecord, FAILED_JOBS[0]),
        (ErrorInfo, SCHEDULES[0]),
        (EventRecord, JOB_MINIMAL),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else type(value).__name__,
)
def test_decoding_another_kind_names_it(cls: type[Record], other: Record) -> None:
    with pytest.raises(SerializationError, match=re.escape(repr(other.KIND))) as info:
        cls.decode(other.encode())
    assert cls.KIND in str(info.value)


def test_decoding_a_result_as_a_job_names_the_result_kind() -> None:
    with pytest.raises(SerializationError, match=r"job record: the message is a 'result' record"):
        JobEnvelope.decode(RESULTS[0].encode())


@pytest.mark.parametrize("version", [2, 0, -1, "1", 1.5, None, True, [1], {"major": 1}])
def test_wrong_schema_version_names_the_version(version: object) -> None:
    obj = _fields(JOB_MINIMAL.encode()) | {VERSION_KEY: version}
    with pytest.raises(SerializationError, match="schema version") as info:
        JobEnvelope.decode(json.dumps(obj))
    assert repr(version) in str(info.value)


def test_missing_version_is_refused() -> None:
    obj = _fields(JOB_MINIMAL.encode())
    del obj[VERSION_KEY]
    with pytest.raises(SerializationError, match="schema version None"):
        JobEnvelope.decode(json.dumps(obj))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid UTF-8 JSON"),
        (b"\xff\xfe{}", "not valid UTF-8 JSON"),
        (b'{"v": 1, "job_id": "x"', "not valid UTF-8 JSON"),
        (b'{"v": NaN}', "not valid UTF-8 JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"job"', "expected a JSON object, got str"),
        (b"null", "expected a JSON object, got NoneType"),
    ],
)
def test_non_records_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(SerializationError, match=re.escape(message)):
        JobEnvelope.decode(data)


@pytest.mark.parametrize("data", [None, 42, {"v": 1}, ["job"]])
def test_decoding_something_that_is_not_bytes_is_refused(data: Any) -> None:
    with pytest.raises(SerializationError, match="expected bytes"):
        JobEnvelope.decode(data)


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("max_retries", "3", r"max_retries: expected an integer"),
        ("max_retries", True, r"max_retries: expected an integer"),
        ("enqueued_at", "now", r"enqueued_at: expected a .*number"),
        ("enqueued_at", 10**400, r"enqueued_at: expected a .*number"),  # an integer beyond float range
        ("timeout", -(10**309), r"timeout"),
        ("retry_delay", [1, "2"], r"retry_delay"),
        ("retry_strategy", "random", r"retry_strategy"),
        ("serializer", "yaml", r"serializer"),
        ("depends_on", "other-job", r"depends_on"),
        ("retry_jitter", 1, r"retry_jitter: expected a boolean"),
    ],
)
def test_wrongly_typed_field_is_named(field: str, value: object, pattern: str) -> None:
    obj = _fields(JOB_FULL.encode()) | {field: value}
    with pytest.raises(SerializationError, match=pattern):
        JobEnvelope.decode(json.dumps(obj))


@pytest.mark.parametrize("field", sorted(_REQUIRED_JOB))
def test_missing_required_field_is_named(field: str) -> None:
    obj = _fields(JOB_MINIMAL.encode())
    del obj[field]
    with pytest.raises(SerializationError, match=re.escape(f"missing field {field!r}")):
        JobEnvelope.decode(json.dumps(obj))


def test_invalid_value_inside_a_valid_shape_is_a_serialization_error() -> None:
    # Constructor checks (ValueError) surface from decode as SerializationError naming the value.
    obj = _fields(JOB_MINIMAL.encode()) | {"job_id": "no spaces allowed"}
    with pytest.raises(SerializationError, match=re.escape("'no spaces allowed'")):
        JobEnvelope.decode(json.dumps(obj))


def test_invalid_nested_job_is_a_serialization_error() -> None:
    obj = _fields(SCHEDULES[0].encode())
    obj["job"]["queue"] = "a.b"
    with pytest.raises(SerializationError, match=re.escape("'a.b'")):
        ScheduleRecord.decode(json.dumps(obj))
    obj = _fields(FAILED_JOBS[0].encode())
    del obj["error"]["message"]
    with pytest.raises(SerializationError, match="missing field 'message'"):
        FailedJobRecord.decode(json.dumps(obj))


def test_completed_result_with_error_fails_to_decode() -> None:
    obj = _fields(RESULTS[0].encode()) | {"error": ERRORS[0].to_dict()}
    with pytest.raises(SerializationError, match="completed result carries no error"):
        ResultRecord.decode(json.dumps(obj))


def test_non_json_payload_cannot_be_encoded() -> None:
    job = JobEnvelope(job_id="j", queue="q", function="m:f", payload={"when": object()}, enqueued_at=T0)
    with pytest.raises(SerializationError, match="job record cannot be encoded as JSON"):
        job.encode()
    job = JobEnvelope(job_id="j", queue="q", function="m:f", payload=[float("nan")], enqueued_at=T0)
    with pytest.raises(SerializationError, match="job record cannot be encoded as JSON"):
        job.encode()


# --- constructor errors -------------------------------------------------------------------------


def _job(**changes: Any) -> JobEnvelope:
    """``JOB_MINIMAL`` with ``changes`` applied through the constructor (so its checks run)."""
    fields = {
        "job_id": JOB_MINIMAL.job_id,
        "queue": JOB_MINIMAL.queue,
        "function": JOB_MINIMAL.function,
        "payload": JOB_MINIMAL.payload,
        "enqueued_at": JOB_MINIMAL.enqueued_at,
    }
    return JobEnvelope(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"job_id": "bad id!"}, "'bad id!'"),
        ({"job_id": "a:b"}, "'a:b'"),
        ({"job_id": "x" * 65}, repr("x" * 65)),
        ({"job_id": ""}, "''"),
        ({"job_id": 42}, "42"),
        ({"queue": "a.b"}, "'a.b'"),
        ({"queue": "_sys"}, "'_sys'"),
        ({"queue": "q*"}, "'q*'"),
        ({"function": "send_email"}, "'send_email'"),
        ({"function": "app.tasks:"}, "'app.tasks:'"),
        ({"enqueued_at": -1.0}, "-1.0"),
        ({"enqueued_at": float("nan")}, "nan"),
        ({"max_retries": -1}, "-1"),
        ({"retry_delay": -0.5}, "-0.5"),
        ({"retry_delay": (1.0, float("inf"))}, "inf"),
        ({"retry_strategy": "random"}, "'random'"),
        ({"retry_max_delay": 0.0}, "0.0"),
        ({"retry_on": ("ValueError",)}, "'ValueError'"),
        ({"ignore_on": ("builtins.ValueError",)}, "'builtins.ValueError'"),
        ({"depends_on": ("ok", "not ok")}, "'not ok'"),
        ({"timeout": -5.0}, "-5.0"),
        ({"result_ttl": -1}, "-1"),
    ],
)
def test_job_constructor_names_the_bad_value(changes: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        _job(**changes)


def test_job_cannot_depend_on_itself() -> None:
    with pytest.raises(ValueError, match=re.escape(f"job {JOB_MINIMAL.job_id!r} cannot depend on itself")):
        _job(depends_on=(JOB_MINIMAL.job_id,))


def test_empty_retry_delay_list_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_delay list must not be empty"):
        _job(retry_delay=())


def test_completed_result_with_error_is_refused() -> None:
    with pytest.raises(ValueError, match="completed result carries no error"):
        ResultRecord(job_id="j", queue="q", status="completed", attempts=1, finished_at=T0, error=ERRORS[0])


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_unsuccessful_result_without_error_is_refused(status: Any) -> None:
    with pytest.raises(ValueError, match=f"a {status} result must carry its error"):
        ResultRecord(job_id="j", queue="q", status=status, attempts=1, finished_at=T0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"job_id": "j.1"}, "'j.1'"),
        ({"queue": ""}, "''"),
        ({"attempts": -1}, "attempts must be >= 0, got -1"),
        ({"finished_at": -0.001}, "-0.001"),
    ],
)
def test_result_constructor_names_the_bad_value(changes: dict[str, Any], message: str) -> None:
    fields = {"job_id": "j", "queue": "q", "status": "completed", "attempts": 1, "finished_at": T0} | changes
    with pytest.raises(ValueError, match=re.escape(message)):
        ResultRecord(**fields)


def _schedule(**changes: Any) -> ScheduleRecord:
    """A valid interval schedule with ``changes`` applied through the constructor."""
    fields = {"schedule_id": "every-minute", "job": JOB_MINIMAL, "next_run_at": T0, "created_at": T0}
    return ScheduleRecord(**(fields | changes))


def test_schedule_takes_at_most_one_of_cron_and_interval() -> None:
    with pytest.raises(ValueError, match="at most one of cron and interval"):
        _schedule(cron="* * * * *", interval=60.0)


def test_a_schedule_with_neither_cron_nor_interval_is_a_one_off_run_of_its_job() -> None:
    one_off = _schedule(schedule_id=JOB_MINIMAL.job_id)
    assert one_off.one_off
    assert one_off.runs_left == 1
    assert _schedule(interval=60.0).runs_left is None
    assert _schedule(interval=60.0, repeat=3, runs=1).runs_left == 2
    with pytest.raises(ValueError, match="cannot repeat"):
        _schedule(schedule_id=JOB_MINIMAL.job_id, repeat=2)
    with pytest.raises(ValueError, match="schedule id must be its job id"):
        _schedule(schedule_id="another-id")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedule_id": "every minute", "interval": 60.0}, "'every minute'"),
        ({"cron": "   "}, "cron must not be empty"),
        ({"interval": 60.0, "cron_tz": "UTC"}, "cron_tz only applies to cron schedules"),
        ({"interval": 0.0}, "interval must be > 0"),
        ({"interval": 60.0, "repeat": 0}, "repeat must be >= 1 or None, got 0"),
        ({"interval": 60.0, "runs": -1}, "runs and failures must be >= 0"),
        ({"interval": 60.0, "failures": -1}, "runs and failures must be >= 0"),
        ({"interval": 60.0, "next_run_at": -1.0}, "next_run_at must be >= 0"),
        ({"interval": 60.0, "status": "sleeping"}, "'sleeping'"),
        ({"interval": 60.0, "job": JOB_PICKLE}, "must use the json serializer"),
        ({"interval": 60.0, "pending_run_at": -5.0}, "pending_run_at must be >= 0"),
    ],
)
def test_schedule_constructor_explains_the_problem(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _schedule(**changes)


def test_schedule_with_both_cron_and_interval_fails_to_decode() -> None:
    obj = _fields(SCHEDULES[0].encode()) | {"interval": 60.0}
    with pytest.raises(SerializationError, match="at most one of cron and interval"):
        ScheduleRecord.decode(json.dumps(obj))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"worker_id": "host a"}, "'host a'"),
        ({"queues": ("ok", "not.ok")}, "'not.ok'"),
        ({"current_jobs": ("j:1",)}, "'j:1'"),
        ({"status": "asleep"}, "'asleep'"),
        ({"concurrency": 0}, "concurrency >= 1"),
        ({"pid": -1}, "pid"),
        ({"heartbeat_at": -1.0}, "heartbeat_at must be >= 0"),
        ({"processed_by_queue": {"a.b": 1}}, "'a.b'"),
        ({"failed_by_queue": {"default": -1}}, "default=-1"),
        ({"processed_by_queue": {"default": True}}, "default=True"),
    ],
)
def test_heartbeat_constructor_explains_the_problem(changes: dict[str, Any], message: str) -> None:
    fields = {
        "worker_id": "w1",
        "hostname": "h",
        "pid": 1,
        "queues": ("default",),
        "status": WorkerStatus.IDLE,
        "concurrency": 1,
        "started_at": T0,
        "heartbeat_at": T0,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        WorkerHeartbeat(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "job.started"}, "'job.started'"),
        ({"queue": "a>b"}, "'a>b'"),
        ({"job_id": "*"}, "'*'"),
        ({"worker_id": ""}, "''"),
        ({"at": -1.0}, "at must be >= 0"),
    ],
)
def test_event_constructor_names_the_bad_value(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        EventRecord(**({"kind": "started", "queue": "default", "at": T0} | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"queue": "_sys"}, "reserved"),
        ({"stream_sequence": -1}, "stream_sequence must be >= 0, got -1"),
        ({"job_id": "bad/id"}, "'bad/id'"),
        ({"failed_at": float("inf")}, "failed_at must be >= 0"),
    ],
)
def test_undecodable_constructor_names_the_bad_value(changes: dict[str, Any], message: str) -> None:
    fields = {
        "queue": "default",
        "subject": "naq.queue.default",
        "stream_sequence": 1,
        "data": "",
        "headers": {},
        "error": ERRORS[0],
        "failed_at": T0,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        UndecodableMessageRecord(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attempts": -2}, "attempts must be >= 0, got -2"),
        ({"failed_at": -3.0}, "failed_at must be >= 0, got -3.0"),
    ],
)
def test_failed_job_constructor_names_the_bad_value(changes: dict[str, Any], message: str) -> None:
    fields = {"job": JOB_MINIMAL, "error": ERRORS[0], "attempts": 1, "failed_at": T0}
    with pytest.raises(ValueError, match=re.escape(message)):
        FailedJobRecord(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "sleeping"}, "'sleeping'"),
        ({"attempts": -1}, "attempts must be >= 0, got -1"),
        ({"job_id": "a b"}, "'a b'"),
    ],
)
def test_job_status_constructor_names_the_bad_value(changes: dict[str, Any], message: str) -> None:
    fields = {"job_id": "j", "queue": "q", "status": JobStatus.QUEUED, "attempts": 0, "updated_at": T0}
    with pytest.raises(ValueError, match=re.escape(message)):
        JobStatusRecord(**(fields | changes))


def test_error_info_from_exception_names_type_and_keeps_traceback() -> None:
    error = _raised_error()
    assert error.type == "builtins:KeyError"
    assert error.message == "'email'"
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert "KeyError: 'email'" in error.traceback
