"""Enqueueing: validated options, dedup by job id, clear errors, resources created as naq's specs say."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from harness.waiting import async_wait_for
from naq.client import (
    ConfigurationError,
    Job,
    JobNotFoundError,
    NaqConnectionError,
    Queue,
    QueueFullError,
    SerializationError,
    fetch_job_result,
)
from naq.client._connection import get_connection
from naq.client._resources import resource_drift
from naq.protocol import JobEnvelope, Settings, names, resources
from naq.protocol.subjects import queue_subject


def helper(a: int, timeout: int = 0) -> int:
    """A job function with a parameter called like one of naq's options."""
    return a + timeout


async def _stream_messages(js: Any, queue: str = "default") -> list[Any]:
    sub = await js.pull_subscribe(queue_subject(queue), durable="inspect", stream=names.JOBS_STREAM)
    messages: list[Any] = []

    async def drained() -> bool:
        try:
            batch = await sub.fetch(100, timeout=0.5)
        except TimeoutError:
            return True
        messages.extend(batch)
        return False

    await async_wait_for(drained, timeout=10, what="queue read")
    return messages


async def test_enqueue_publishes_one_envelope_with_the_job_id_as_message_id(test_settings: Settings, js: Any) -> None:
    queue = Queue(settings=test_settings)
    job = await queue.enqueue(helper, 1, timeout=5, max_retries=2, func_kwargs={"timeout": 7})
    [message] = await _stream_messages(js)
    assert message.headers[names.HEADER_MSG_ID] == job.job_id
    envelope = JobEnvelope.decode(message.data)
    assert envelope.job_id == job.job_id
    assert envelope.function == f"{__name__}:helper"
    assert envelope.timeout == 5
    assert envelope.max_retries == 2
    # naq's options stay out of the call; func_kwargs carries the colliding name
    assert envelope.payload == {"args": [1], "kwargs": {"timeout": 7}}


async def test_the_same_job_id_twice_is_one_job(test_settings: Settings, js: Any) -> None:
    queue = Queue(settings=test_settings)
    first = await queue.enqueue(helper, 1, job_id="only-once")
    second = await queue.enqueue(helper, 1, job_id="only-once")
    assert first.job_id == second.job_id == "only-once"
    assert len(await _stream_messages(js)) == 1


async def test_enqueue_many_pipelines_and_keeps_order(test_settings: Settings, js: Any) -> None:
    jobs = await Queue(settings=test_settings).enqueue_many(helper, [[i] for i in range(500)])
    assert len({job.job_id for job in jobs}) == 500
    messages = await _stream_messages(js)
    assert [JobEnvelope.decode(m.data).payload["args"] for m in messages] == [[i] for i in range(500)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": "3"}, "max_retries"),
        ({"retry_delay": -1}, "retry_delay"),
        ({"retry_delay": []}, "retry_delay"),
        ({"retry_strategy": "fibonacci"}, "retry_strategy"),
        ({"timeout": 0}, "timeout"),
        ({"result_ttl": -5}, "result_ttl"),
        ({"job_id": "has space"}, "invalid job id"),
        ({"depends_on": ["ok", "bad.id"]}, "depends_on"),
        ({"serializer": "yaml"}, "unknown serializer"),
        ({"retry_on": ["NotARef"]}, "exception reference"),
    ],
)
async def test_bad_options_are_clear_errors_before_anything_is_sent(
    test_settings: Settings, options: dict[str, Any], message: str
) -> None:
    with pytest.raises((ConfigurationError, SerializationError), match=message):
        await Queue(settings=test_settings).enqueue(helper, 1, **options)


async def test_non_json_arguments_and_unimportable_functions_fail_at_enqueue(test_settings: Settings) -> None:
    queue = Queue(settings=test_settings)
    with pytest.raises(SerializationError, match="argument 'when'"):
        await queue.enqueue(helper, 1, when=time)
    with pytest.raises(SerializationError, match="lambda"):
        await queue.enqueue(lambda: 1)
    with pytest.raises(ConfigurationError, match="given twice"):
        await queue.enqueue(helper, 1, x=1, func_kwargs={"x": 2})
    with pytest.raises(ValueError, match="invalid queue name"):
        Queue("no.dots", settings=test_settings)


async def test_pickle_carries_what_json_cannot(test_settings: Settings, js: Any) -> None:
    job = await Queue(settings=test_settings).enqueue(lambda x: x, {1, 2}, serializer="pickle")
    [message] = await _stream_messages(js)
    envelope = JobEnvelope.decode(message.data)
    assert (envelope.job_id, envelope.serializer) == (job.job_id, "pickle")


async def test_purge_counts_and_touches_no_other_queue(test_settings: Settings) -> None:
    emails, reports = Queue("emails", settings=test_settings), Queue("reports", settings=test_settings)
    await emails.enqueue_many(helper, [[i] for i in range(7)])
    await reports.enqueue_many(helper, [[i] for i in range(3)])
    assert await emails.purge() == 7
    assert await emails.purge() == 0
    assert await reports.purge() == 3


async def test_unreachable_server_is_a_connection_error_within_the_timeout() -> None:
    settings = Settings.from_env({}, nats_url="nats://127.0.0.1:1", connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(NaqConnectionError, match=r"127\.0\.0\.1:1"):
        await Queue(settings=settings).enqueue(helper, 1)
    assert time.monotonic() - started < 5


async def test_a_full_queue_refuses_jobs(test_settings: Settings) -> None:
    tiny = Settings.from_env(test_settings.as_env(), queue_max_bytes=4096)
    queue = Queue(settings=tiny)

    async def fill() -> None:
        for _ in range(200):  # bounded: 4 KiB fills after a few dozen jobs; the size is re-read every second
            await queue.enqueue(helper, "x" * 200)
            await asyncio.sleep(0.05)  # pacing, not synchronisation: lets the cached size refresh

    with pytest.raises(QueueFullError, match="NAQ_QUEUE_MAX_BYTES"):
        await fill()


async def test_existing_streams_with_other_config_are_reported_not_replaced(test_settings: Settings, nc: Any) -> None:
    spec = resources.jobs_stream(test_settings)
    changed = {**spec.api_config(), "duplicate_window": 60 * 10**9}
    await nc.request(f"$JS.API.STREAM.CREATE.{spec.name}", json.dumps(changed).encode(), timeout=5)
    await Queue(settings=test_settings).enqueue(helper, 1)
    connection = await get_connection(test_settings)
    assert resource_drift(connection)[spec.name] == [f"duplicate_window: expected {120 * 10**9}, found {60 * 10**9}"]
    info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{spec.name}", b"", timeout=5)).data)
    assert info["config"]["duplicate_window"] == 60 * 10**9  # left as it was, jobs and all
    assert info["state"]["messages"] == 1


async def test_result_reads_of_unknown_jobs(test_settings: Settings) -> None:
    with pytest.raises(JobNotFoundError):
        await fetch_job_result("never-enqueued", nats_url=test_settings.nats_url)
    job = Job("never-enqueued", "default", test_settings)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await job.result(timeout=0.5)
    assert time.monotonic() - started < 5
