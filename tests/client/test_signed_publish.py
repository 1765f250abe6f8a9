"""Signed jobs on the job publish path (``NAQ_SIGNING_KEY``): a first publish is signed over the
message data exactly as stored; a later publish carries the signature it is given and never makes
one; the producer's records that keep a job (a parked dependent, a schedule's template) keep its
signature; the header survives the server's own schedule. All against a real server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import nats.js.errors
import pytest

import naq.client
from harness.waiting import async_wait_for
from naq.client import JobRejectedError, Queue
from naq.client._connection import Connection, open_connection
from naq.client._options import JobOptions, build_envelope
from naq.client._publish import job_message
from naq.client._resources import ensure_stream
from naq.client.runtime import publish_job
from naq.protocol import JobEnvelope, MessagePurpose, ParkedJobRecord, ScheduleRecord, Settings, names, resources
from naq.protocol.subjects import queue_subject

ADD = "harness.jobs:add"
KEYS = "k1:first-secret,k0:older-secret"


@pytest.fixture
def signed_settings(test_settings: Settings) -> Settings:
    """The test settings with signing keys."""
    return Settings.from_env(test_settings.as_env(), signing_key=KEYS)


@pytest.fixture
async def connection(signed_settings: Settings) -> AsyncIterator[Connection]:
    """A signing naq connection of its own with the job stream created, closed after the test."""
    opened = await open_connection(signed_settings)
    await ensure_stream(opened, resources.jobs_stream(signed_settings))
    yield opened
    await opened.close()
    await naq.client.close()


def _job(settings: Settings, job_id: str = "job-1") -> JobEnvelope:
    return build_envelope(ADD, (1, 2), {}, JobOptions(job_id=job_id), "default", settings)


async def test_a_first_publish_is_signed_over_the_data_as_stored(
    connection: Connection, signed_settings: Settings, js: Any
) -> None:
    await publish_job(connection, _job(signed_settings))
    message = await js.get_last_msg(names.JOBS_STREAM, queue_subject("default"))
    keys = signed_settings.keys
    assert keys is not None
    signature = message.headers[names.HEADER_SIGNATURE]
    assert signature.startswith("k1:")  # the first key signs
    assert keys.check(message.data, signature) is None


async def test_a_later_publish_carries_the_given_signature_and_never_signs(
    connection: Connection, signed_settings: Settings, js: Any
) -> None:
    envelope = _job(signed_settings)
    await publish_job(connection, envelope, MessagePurpose.REQUEUE, 1)
    message = await js.get_last_msg(names.JOBS_STREAM, queue_subject("default"))
    assert names.HEADER_SIGNATURE not in message.headers  # no stored signature: it stays unsigned
    carried = "k0:" + "ab" * 32
    await publish_job(connection, envelope, MessagePurpose.REQUEUE, 2, signature=carried)
    message = await js.get_last_msg(names.JOBS_STREAM, queue_subject("default"))
    assert message.headers[names.HEADER_SIGNATURE] == carried
    with pytest.raises(ValueError, match="first publish is signed by its publisher"):
        job_message(connection, envelope, signature=carried)


async def test_an_unsigned_connection_adds_no_header(test_settings: Settings, js: Any) -> None:
    opened = await open_connection(test_settings)
    try:
        await ensure_stream(opened, resources.jobs_stream(test_settings))
        await publish_job(opened, _job(test_settings))
    finally:
        await opened.close()
    message = await js.get_last_msg(names.JOBS_STREAM, queue_subject("default"))
    assert message.headers == {names.HEADER_MSG_ID: "job-1"}


async def test_the_signature_survives_the_servers_own_schedule(
    connection: Connection, signed_settings: Settings, js: Any
) -> None:
    """A delayed publish reaches the queue subject with its Nats-* headers rewritten by the
    server, the data and Naq-Signature unchanged (so the signature still verifies)."""
    envelope = _job(signed_settings)
    first = job_message(connection, envelope)
    signature = first.headers[names.HEADER_SIGNATURE]
    await publish_job(connection, envelope, MessagePurpose.RETRY, 2, at=time.time() + 1, attempt=2, signature=signature)

    async def moved() -> Any:
        try:
            return await js.get_last_msg(names.JOBS_STREAM, queue_subject("default"))
        except nats.js.errors.NotFoundError:
            return None

    message = await async_wait_for(moved, timeout=10, interval=0.1, what="the scheduled job on its queue")
    assert names.HEADER_SCHEDULE not in message.headers  # the server's delivery, not our publish
    assert message.headers[names.HEADER_SIGNATURE] == signature
    assert message.data == first.data
    keys = signed_settings.keys
    assert keys is not None
    assert keys.check(message.data, message.headers[names.HEADER_SIGNATURE]) is None


async def test_a_parked_dependent_keeps_its_producers_signature(
    connection: Connection, signed_settings: Settings, js: Any
) -> None:
    queue = Queue(settings=signed_settings)
    job = await queue.enqueue(ADD, 1, 2, job_id="child", depends_on="never-done")
    bucket = await js.key_value(names.WAITING_BUCKET)
    record = ParkedJobRecord.decode((await bucket.get(f"never-done.{job.job_id}")).value)
    keys = signed_settings.keys
    assert keys is not None
    assert record.signature is not None
    assert keys.check(record.job.encode(), record.signature) is None
    deadline = await js.get_last_msg(names.JOBS_STREAM, "naq.delayed.child.deadline")
    assert deadline.headers[names.HEADER_SIGNATURE] == record.signature  # carried, not made anew


async def test_a_schedule_template_is_signed_and_a_rewritten_one_is_not_run_now(
    connection: Connection, signed_settings: Settings, js: Any, nc: Any
) -> None:
    queue = Queue(settings=signed_settings)
    handle = await queue.schedule(ADD, 1, 2, interval=3600, schedule_id="hourly")
    bucket = await js.key_value(names.SCHEDULES_BUCKET)
    record = ScheduleRecord.decode((await bucket.get("hourly")).value)
    keys = signed_settings.keys
    assert keys is not None
    assert record.signature is not None
    assert keys.check(record.job.encode(), record.signature) is None

    # Someone with write access to the bucket, but not the key, changes the function.
    tampered = ScheduleRecord.decode(
        record.encode().replace(b'"function":"harness.jobs:add"', b'"function":"harness.jobs:noop"')
    )
    assert tampered.job.function == "harness.jobs:noop"
    await bucket.put("hourly", tampered.encode())
    before = (await js.stream_info(names.JOBS_STREAM)).state.messages
    with pytest.raises(JobRejectedError, match="signature does not verify"):
        await handle.run_now()
    assert (await js.stream_info(names.JOBS_STREAM)).state.messages == before
