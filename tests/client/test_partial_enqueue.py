"""Bulk enqueue: all or nothing for what can be checked first; a failure midway says what got through."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from harness.jetstream_api import js_api, stream_info
from naq.client import JobTooLargeError, PartialEnqueueError, Queue, close
from naq.protocol import Settings, names

ADD = "harness.jobs:add"


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue on the test server; the loop's naq connections closed after."""
    yield Queue(settings=test_settings)
    await close()


async def _queued_ids(nc: Any) -> list[str]:
    """The job ids on the job stream, in stream order (read by sequence, not consumed)."""
    info = await stream_info(nc, names.JOBS_STREAM)
    state = info["state"]
    ids = []
    for seq in range(state["first_seq"], state["last_seq"] + 1) if state["messages"] else ():
        reply = await js_api(nc, f"STREAM.MSG.GET.{names.JOBS_STREAM}", {"seq": seq})
        headers = base64.b64decode(reply["message"].get("hdrs") or "").decode()
        [line] = [h for h in headers.split("\r\n") if h.startswith(f"{names.HEADER_MSG_ID}:")]
        ids.append(line.split(":", 1)[1].strip())
    return ids


async def _waiting_keys(nc: Any) -> int:
    try:
        info = await stream_info(nc, f"KV_{names.WAITING_BUCKET}")
    except RuntimeError:  # no bucket: nothing was ever parked
        return 0
    return int(info["state"]["messages"])


async def test_one_oversized_job_in_a_bulk_enqueue_enqueues_none(queue: Queue, nc: Any) -> None:
    with pytest.raises(JobTooLargeError):
        await queue.enqueue_many(ADD, [(1, 2), ("x" * 2_000_000, "y"), (3, 4)])
    assert await _queued_ids(nc) == []
    # The queue still works: the small jobs alone go through.
    jobs = await queue.enqueue_many(ADD, [(1, 2), (3, 4)])
    assert await _queued_ids(nc) == [job.job_id for job in jobs]


async def test_one_oversized_dependent_parks_none(queue: Queue, nc: Any) -> None:
    """Jobs that would be parked on an unfinished dependency are measured before any is parked."""
    parent = await queue.enqueue(ADD, 0, 0)
    with pytest.raises(JobTooLargeError):
        await queue.enqueue_many(ADD, [(1, 2), ("x" * 2_000_000, "y"), (3, 4)], depends_on=parent)
    assert await _waiting_keys(nc) == 0
    assert await _queued_ids(nc) == [parent.job_id]


async def test_bad_entries_and_options_of_a_bulk_enqueue_are_configuration_errors(queue: Queue, nc: Any) -> None:
    from naq.client import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown: max_retry"):
        await queue.enqueue_many(ADD, [(1, 2)], max_retry=3)
    with pytest.raises(ConfigurationError, match="each entry of calls"):
        await queue.enqueue_many(ADD, [(1, 2), 5])
    with pytest.raises(ConfigurationError, match="calls must be"):
        await queue.enqueue_many(ADD, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="retry_delay"):
        await queue.enqueue_many(ADD, [(1, 2), (3, 4)], retry_delay=None)
    with pytest.raises(Exception, match=names.JOBS_STREAM):  # nothing was even created
        await stream_info(nc, names.JOBS_STREAM)


async def test_a_publish_refused_midway_raises_partial_enqueue_error_and_the_ids_can_be_retried(
    queue: Queue, nc: Any
) -> None:
    """The stream refuses one job (an operator's per-message limit on ``naq_jobs``, which naq does
    not check up front): the others, before and after it in the pipeline, are enqueued."""
    await queue.purge()  # creates the job stream with naq's configuration
    config = (await stream_info(nc, names.JOBS_STREAM))["config"]
    await js_api(nc, f"STREAM.UPDATE.{names.JOBS_STREAM}", {**config, "max_msg_size": 2000})

    calls = [(1, 2), (3, 4), ("x" * 3000, "y"), (5, 6)]
    with pytest.raises(PartialEnqueueError) as caught:
        await queue.enqueue_many(ADD, calls)
    error = caught.value
    assert "3 of 4 jobs were enqueued" in str(error)
    [refused] = error.not_enqueued
    enqueued_ids = [job.job_id for job in error.enqueued]
    assert len(enqueued_ids) == 3
    assert refused not in enqueued_ids
    assert await _queued_ids(nc) == enqueued_ids
    assert error.__cause__ is not None
    assert "maximum" in str(error.__cause__).lower()

    # A retry reuses the ids: the refused job goes in once the limit is lifted, and the ones that
    # had gone through are not enqueued twice (the duplicate window).
    await js_api(nc, f"STREAM.UPDATE.{names.JOBS_STREAM}", {**config, "max_msg_size": -1})
    for job_id, call in zip([*enqueued_ids[:2], refused, enqueued_ids[2]], calls, strict=True):
        await queue.enqueue(ADD, *call, job_id=job_id)
    assert sorted(await _queued_ids(nc)) == sorted([*enqueued_ids, refused])


async def test_a_single_job_refused_by_the_stream_raises_the_streams_error(queue: Queue, nc: Any) -> None:
    await queue.purge()
    config = (await stream_info(nc, names.JOBS_STREAM))["config"]
    await js_api(nc, f"STREAM.UPDATE.{names.JOBS_STREAM}", {**config, "max_msg_size": 2000})
    with pytest.raises(Exception, match=r"(?i)maximum") as caught:
        await queue.enqueue(ADD, "x" * 3000, "y")
    assert not isinstance(caught.value, PartialEnqueueError)
