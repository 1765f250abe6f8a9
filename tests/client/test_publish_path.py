"""The one job publish path (issue 10): every publish of a job gets its subject, message id and
headers from ``naq.client.runtime.publish_job``, and is measured there.

Each purpose is published to a real server and read back from the job stream as stored.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from harness.jetstream_api import stream_info
from naq.client import JobTooLargeError
from naq.client._connection import Connection, open_connection
from naq.client._options import JobOptions, build_envelope
from naq.client._publish import job_message
from naq.client._resources import ensure_stream
from naq.client.runtime import publish_job
from naq.protocol import DependencyVerdict, JobEnvelope, MessagePurpose, Settings, names, resources
from naq.protocol.subjects import queue_subject

ADD = "harness.jobs:add"


@pytest.fixture
async def connection(test_settings: Settings) -> AsyncIterator[Connection]:
    """A naq connection of its own with the job stream created, closed after the test."""
    opened = await open_connection(test_settings)
    await ensure_stream(opened, resources.jobs_stream(test_settings))
    yield opened
    await opened.close()


def _job(settings: Settings, *args: Any, job_id: str = "job-1") -> JobEnvelope:
    return build_envelope(ADD, args or (1, 2), {}, JobOptions(job_id=job_id), "default", settings)


async def _stored(js: Any, subject: str) -> Any:
    return await js.get_last_msg(names.JOBS_STREAM, subject)


async def _count(nc: Any) -> int:
    return int((await stream_info(nc, names.JOBS_STREAM))["state"]["messages"])


async def test_a_first_publish_goes_to_the_queue_with_the_job_id_as_message_id(
    connection: Connection, test_settings: Settings, js: Any
) -> None:
    envelope = _job(test_settings)
    ack = await publish_job(connection, envelope)
    assert not ack.duplicate
    message = await _stored(js, queue_subject("default"))
    assert message.headers == {names.HEADER_MSG_ID: "job-1"}
    assert JobEnvelope.decode(message.data) == envelope


@pytest.mark.parametrize("purpose", [MessagePurpose.REQUEUE, MessagePurpose.RELEASE, MessagePurpose.RUN_NOW])
async def test_a_later_publish_carries_a_derived_message_id_and_is_not_a_duplicate_of_the_first(
    connection: Connection, test_settings: Settings, js: Any, nc: Any, purpose: MessagePurpose
) -> None:
    envelope = _job(test_settings)
    await publish_job(connection, envelope)
    ack = await publish_job(connection, envelope, purpose, 7)
    assert not ack.duplicate
    message = await _stored(js, queue_subject("default"))
    assert message.headers[names.HEADER_MSG_ID] == f"job-1.{purpose}.7"
    # The same purpose and number again is the same publish; another number is another one.
    assert (await publish_job(connection, envelope, purpose, 7)).duplicate
    assert not (await publish_job(connection, envelope, purpose, 8)).duplicate
    assert await _count(nc) == 3


async def test_a_release_carries_the_dependency_verdict(
    connection: Connection, test_settings: Settings, js: Any
) -> None:
    verdict = DependencyVerdict.met()
    await publish_job(connection, _job(test_settings), MessagePurpose.RELEASE, 3, verdict=verdict)
    message = await _stored(js, queue_subject("default"))
    assert message.headers[names.HEADER_DEPENDENCIES] == verdict.header()


async def test_a_delayed_retry_is_a_server_side_schedule_on_its_delayed_subject(
    connection: Connection, test_settings: Settings, js: Any
) -> None:
    run_at = time.time() + 3600
    await publish_job(connection, _job(test_settings), MessagePurpose.RETRY, 2, at=run_at, attempt=2)
    message = await _stored(js, "naq.delayed.job-1.2")
    assert message.headers[names.HEADER_MSG_ID] == "job-1.retry.2"
    assert message.headers[names.HEADER_SCHEDULE].startswith("@at ")
    assert message.headers[names.HEADER_SCHEDULE_TARGET] == queue_subject("default")
    assert message.headers[names.HEADER_ATTEMPT] == "2"


async def test_a_dependency_deadline_goes_to_its_deadline_subject(
    connection: Connection, test_settings: Settings, js: Any
) -> None:
    verdict = DependencyVerdict.deadline(5)
    message = job_message(
        connection, _job(test_settings), MessagePurpose.DEADLINE, 5, at=time.time() + 3600, verdict=verdict
    )
    assert message.subject == "naq.delayed.job-1.deadline"
    assert message.headers[names.HEADER_MSG_ID] == "job-1.deadline.5"
    assert message.headers[names.HEADER_DEPENDENCIES] == verdict.header()


@pytest.mark.parametrize("purpose", [None, MessagePurpose.REQUEUE, MessagePurpose.RELEASE, MessagePurpose.RUN_NOW])
async def test_only_a_retry_or_a_deadline_can_be_delayed(
    connection: Connection, test_settings: Settings, nc: Any, purpose: MessagePurpose | None
) -> None:
    with pytest.raises(ValueError, match="only as a retry or a dependency deadline"):
        await publish_job(connection, _job(test_settings), purpose, 1, at=time.time() + 60)
    assert await _count(nc) == 0


@pytest.mark.parametrize("purpose", [None, MessagePurpose.REQUEUE, MessagePurpose.RELEASE, MessagePurpose.RETRY])
async def test_every_publish_of_a_job_is_measured_before_it_is_sent(
    connection: Connection, test_settings: Settings, nc: Any, purpose: MessagePurpose | None
) -> None:
    envelope = _job(test_settings, "x" * connection.nc.max_payload, 1)
    at = time.time() + 60 if purpose is MessagePurpose.RETRY else None
    with pytest.raises(JobTooLargeError, match="job job-1 is"):
        await publish_job(connection, envelope, purpose, 1, at=at)
    assert await _count(nc) == 0
    assert not connection.closed  # refused by naq, not by the server (which would close the connection)
