"""Signed jobs, protocol side: ``NAQ_SIGNING_KEY`` parsing, signing and checking, and the property
that makes carried signatures valid: a record that stores a decoded job publishes the very bytes
its producer signed (``JobEnvelope.encode()`` after decoding gives them back exactly)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from naq.protocol import (
    ConfigurationError,
    ErrorInfo,
    FailedJobRecord,
    JobEnvelope,
    ParkedJobRecord,
    RejectReason,
    ScheduleRecord,
    Settings,
    SigningKeys,
    UndecodableMessageRecord,
)
from naq.protocol.signing import DEFAULT_KEY_ID, check_signature, explain, signing_keys

SECRET = "s3cret-value-never-shown"
DATA = b'{"v":1,"record":"job","job_id":"j1"}'


def _hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


# --- parsing ----------------------------------------------------------------------------------


def test_a_bare_secret_has_the_default_key_id() -> None:
    keys = SigningKeys.parse(f"  {SECRET}  ")
    assert keys.key_ids == (DEFAULT_KEY_ID,) == ("default",)
    assert keys.sign(DATA) == f"default:{_hmac(SECRET, DATA)}"


def test_pairs_sign_with_the_first_and_accept_any() -> None:
    keys = SigningKeys.parse("new:n-secret, old : o-secret")
    assert keys.key_ids == ("new", "old")
    assert keys.signing_id == "new"
    assert keys.sign(DATA) == f"new:{_hmac('n-secret', DATA)}"
    assert keys.check(DATA, f"old:{_hmac('o-secret', DATA)}") is None
    assert keys.check(DATA, keys.sign(DATA)) is None


def test_a_secret_may_contain_colons_after_its_key_id() -> None:
    keys = SigningKeys.parse("k1:a:b:c")
    assert keys.sign(DATA) == f"k1:{_hmac('a:b:c', DATA)}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "it is empty"),
        (" , ", "it is empty"),
        (f"a:{SECRET},{SECRET}x", "entry 2 has no ':'"),
        (f":{SECRET}", "entry 1 has an empty key id"),
        (f"k1:{SECRET}, :{SECRET}", "entry 2 has an empty key id"),
        ("k1:", r"entry 1 \(k1\) has an empty secret"),
        (f"k1:{SECRET},k2:  ", r"entry 2 \(k2\) has an empty secret"),
        (f"k1:{SECRET},k1:{SECRET}2", "names key id 'k1' twice"),
        (f"bad id!{SECRET}:x", "the key id .* must be 1-64 of"),
    ],
)
def test_bad_values_are_a_clear_configuration_error_without_the_secret(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        SigningKeys.parse(value)
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigurationError, match=message) as caught:
        Settings.from_env({}, signing_key=value)
    assert SECRET not in str(caught.value)
    assert "NAQ_SIGNING_KEY" in str(caught.value)
    if value.strip():  # a blank variable means unset
        with pytest.raises(ConfigurationError, match=message) as caught:
            Settings.from_env({"NAQ_SIGNING_KEY": value})
        assert SECRET not in str(caught.value)


def test_the_secret_is_in_no_repr() -> None:
    settings = Settings.from_env({"NAQ_SIGNING_KEY": f"k1:{SECRET},k2:{SECRET}2"})
    keys = settings.keys
    assert keys is not None
    assert SECRET not in repr(settings)
    assert SECRET not in repr(keys)
    assert repr(keys) == "SigningKeys(key_ids=('k1', 'k2'))"
    assert settings.keys is keys  # parsed once per value: the hot path only looks it up
    assert Settings.from_env({}).keys is None


def test_settings_pass_the_keys_on_to_subprocesses() -> None:
    settings = Settings.from_env({}, signing_key=f"k1:{SECRET}")
    assert Settings.from_env(settings.as_env()).keys is signing_keys(f"k1:{SECRET}")


# --- checking ---------------------------------------------------------------------------------


def test_check_tells_unsigned_unknown_key_and_bad_signature_apart() -> None:
    keys = SigningKeys.parse(f"k1:{SECRET}")
    good = keys.sign(DATA)
    assert keys.check(DATA, good) is None
    assert keys.check(DATA, None) is RejectReason.UNSIGNED
    assert keys.check(DATA, "k2:" + good.split(":")[1]) is RejectReason.UNKNOWN_KEY
    assert keys.check(DATA, "garbage") is RejectReason.UNKNOWN_KEY
    assert keys.check(DATA + b" ", good) is RejectReason.BAD_SIGNATURE  # tampered data, copied header
    assert keys.check(DATA, "k1:" + "0" * 64) is RejectReason.BAD_SIGNATURE
    assert keys.check(DATA, "k1:" + good.split(":")[1].upper()) is RejectReason.BAD_SIGNATURE
    assert keys.check(DATA, "k1:abc") is RejectReason.BAD_SIGNATURE
    other = SigningKeys.parse(f"k1:{SECRET}-other")  # same key id, another secret
    assert other.check(DATA, good) is RejectReason.BAD_SIGNATURE


def test_explanations_name_the_key_id_but_never_a_digest() -> None:
    keys = SigningKeys.parse(f"k1:{SECRET}")
    good = keys.sign(DATA)
    assert "not signed" in explain(RejectReason.UNSIGNED, None)
    assert "key id k9" in explain(RejectReason.UNKNOWN_KEY, "k9:" + "0" * 64)
    assert "(malformed)" in explain(RejectReason.UNKNOWN_KEY, "bad id\r\nX-Injected: 1")
    text = explain(RejectReason.BAD_SIGNATURE, good)
    assert "k1" in text
    assert good.split(":")[1] not in text


def test_records_accept_only_signature_shaped_values() -> None:
    check_signature(None)
    check_signature("k1:" + "a" * 64)
    for bad in ("", "k1:", "k1:" + "A" * 64, "k1:" + "a" * 64 + "\r\nX: y", "bad id:" + "a" * 64):
        with pytest.raises(ValueError, match="signature must be"):
            check_signature(bad)


def test_old_records_without_the_new_fields_still_decode() -> None:
    job = JobEnvelope(job_id="j1", queue="q", function="m:f", payload={"args": [], "kwargs": {}}, enqueued_at=1.0)
    failed = FailedJobRecord(job=job, error=ErrorInfo(type="m:E", message="x"), attempts=1, failed_at=2.0)
    text = failed.encode().replace(b',"signature":null', b"")
    assert b"signature" not in text
    assert FailedJobRecord.decode(text).signature is None
    raw = UndecodableMessageRecord(
        queue="q", subject="naq.queue.q", stream_sequence=1, data="", headers={}, error=failed.error, failed_at=1.0
    )
    text = raw.encode().replace(b',"reason":"undecodable"', b"")
    assert b"reason" not in text
    assert UndecodableMessageRecord.decode(text).reason is RejectReason.UNDECODABLE


# --- the property carried signatures rest on --------------------------------------------------

_IDS = st.text("abcXYZ019_-", min_size=1, max_size=12)
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=()))  # lone surrogates included
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_CALLS = st.fixed_dictionaries(
    {"args": st.lists(_JSON, max_size=3), "kwargs": st.dictionaries(st.text(max_size=6), _JSON, max_size=3)}
)
# Seconds as a producer might pass them, floats or whole numbers.
_SECONDS = st.floats(min_value=0.001, max_value=1e9) | st.integers(min_value=1, max_value=10**9)


@st.composite
def envelopes(draw: Any) -> JobEnvelope:
    job_id = draw(_IDS)
    pickle = draw(st.booleans())
    depends_on = tuple(draw(st.lists(_IDS.filter(lambda d: d != job_id), max_size=3, unique=True)))
    optional = st.none() | _SECONDS
    return JobEnvelope(
        job_id=job_id,
        queue=draw(_IDS),
        function=draw(st.sampled_from(["app.tasks:send", "m:f", "pkg.mod:Cls.method"])),
        payload=draw(st.text("ABCabc012+/=") if pickle else _CALLS),
        enqueued_at=draw(st.floats(min_value=0, max_value=4e9) | st.integers(min_value=0, max_value=4 * 10**9)),
        serializer="pickle" if pickle else "json",
        max_retries=draw(st.integers(min_value=0, max_value=10)),
        retry_delay=draw(st.just(0.0) | st.just(0) | _SECONDS | st.lists(_SECONDS, min_size=1, max_size=3).map(tuple)),
        retry_strategy=draw(st.sampled_from(["fixed", "linear", "exponential"])),
        retry_jitter=draw(st.booleans()),
        retry_max_delay=draw(optional),
        retry_on=tuple(draw(st.lists(st.sampled_from(["builtins:OSError", "m:E"]), max_size=2))),
        ignore_on=tuple(draw(st.lists(st.sampled_from(["builtins:KeyError"]), max_size=1))),
        depends_on=depends_on,
        timeout=draw(optional),
        result_ttl=draw(st.none() | st.integers(min_value=0, max_value=10**7)),
        dependency_timeout=draw(optional) if depends_on else None,
    )


@given(envelopes())
def test_a_decoded_job_encodes_to_the_bytes_that_were_signed(envelope: JobEnvelope) -> None:
    signed = envelope.encode()
    assert JobEnvelope.decode(signed).encode() == signed


@given(envelopes(), st.sampled_from(["parked", "failed", "schedule"]))
def test_every_record_that_republishes_a_job_gives_back_its_signed_bytes(envelope: JobEnvelope, kind: str) -> None:
    keys = SigningKeys.parse(f"k1:{SECRET}")
    stored: ParkedJobRecord | FailedJobRecord | ScheduleRecord
    if kind == "parked":
        if not envelope.depends_on:  # a parked job always has dependencies ("dep" is no drawn id)
            envelope = dataclasses.replace(envelope, depends_on=("dep",))
        stored = ParkedJobRecord(job=envelope, generation=1, parked_at=1.0, deadline=2.0)
    elif kind == "failed":
        stored = FailedJobRecord(job=envelope, error=ErrorInfo(type="m:E", message="x"), attempts=1, failed_at=1.0)
    else:
        if envelope.serializer != "json":  # a schedule's job is always JSON
            envelope = dataclasses.replace(envelope, serializer="json", payload={"args": [], "kwargs": {}})
        stored = ScheduleRecord(schedule_id="s1", job=envelope, next_run_at=1.0, created_at=1.0, interval=5.0)
    signed = envelope.encode()  # what the producer published and signed
    signature = keys.sign(signed)
    stored = dataclasses.replace(stored, signature=signature)
    back = type(stored).decode(stored.encode())
    assert back.job.encode() == signed
    assert back.signature == signature
    assert keys.check(back.job.encode(), back.signature) is None
