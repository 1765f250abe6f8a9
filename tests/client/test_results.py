"""Waiting for results watches one key with a core subscription: no consumer per wait, no polling."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from naq.client import Job, JobExecutionError, fetch_job_result
from naq.client._connection import get_connection
from naq.client._resources import kv
from naq.protocol import ErrorInfo, ResultRecord, Settings, names
from naq.protocol.subjects import result_subject


def _completed(job_id: str, value: Any) -> ResultRecord:
    return ResultRecord(
        job_id=job_id, queue="default", status="completed", attempts=1, finished_at=time.time(), value=value
    )


async def _consumers_on_results(nc: Any) -> int:
    reply = await nc.request(f"$JS.API.STREAM.INFO.KV_{names.RESULTS_BUCKET}", b"", timeout=5)
    return json.loads(reply.data)["state"]["consumer_count"]


async def test_many_waits_create_no_consumer_and_see_results_written_later(test_settings: Settings, nc: Any) -> None:
    await kv(await get_connection(test_settings), names.RESULTS_BUCKET)
    jobs = [Job(f"job-{i}", "default", test_settings) for i in range(50)]
    waits = [asyncio.create_task(job.result(timeout=20)) for job in jobs]
    await asyncio.sleep(0)  # let every wait subscribe before results exist (the race is covered anyway)
    for i, job in enumerate(jobs):
        await nc.publish(result_subject(job.job_id), _completed(job.job_id, i).encode())
    assert await asyncio.gather(*waits) == list(range(50))
    assert await _consumers_on_results(nc) == 0


async def test_a_result_written_before_the_wait_is_found(test_settings: Settings) -> None:
    bucket = await kv(await get_connection(test_settings), names.RESULTS_BUCKET)
    await bucket.put("early", _completed("early", {"ok": True}).encode())
    assert await Job("early", "default", test_settings).result(timeout=5) == {"ok": True}
    assert await fetch_job_result("early", nats_url=test_settings.nats_url) == {"ok": True}


async def test_a_failed_result_raises_with_the_remote_error(test_settings: Settings) -> None:
    bucket = await kv(await get_connection(test_settings), names.RESULTS_BUCKET)
    try:
        raise KeyError("missing")
    except KeyError as exc:
        error = ErrorInfo.from_exception(exc)
    record = ResultRecord(
        job_id="bad", queue="default", status="failed", attempts=3, finished_at=time.time(), error=error
    )
    await bucket.put("bad", record.encode())
    with pytest.raises(JobExecutionError) as info:
        await Job("bad", "default", test_settings).result(timeout=5)
    assert info.value.error_type == "builtins:KeyError"
    assert "missing" in info.value.error_message
    assert "KeyError" in info.value.traceback


@pytest.mark.parametrize(
    ("stored_type", "raised"),
    [
        ("naq.client:DependencyFailedError", "DependencyFailedError"),
        ("naq.protocol.errors:DependencyFailedError", "DependencyFailedError"),  # written by an older naq
        ("naq.client:JobCancelledError", "JobCancelledError"),
        ("naq.protocol.errors:JobCancelledError", "JobCancelledError"),
        ("naq.worker:JobTimeoutError", "JobExecutionError"),
    ],
)
def test_naq_job_errors_are_raised_as_themselves_under_old_and_new_names(stored_type: str, raised: str) -> None:
    import naq.client
    from naq.client._results import result_value

    record = ResultRecord(
        job_id="j1",
        queue="default",
        status="failed",
        attempts=0,
        finished_at=1.0,
        error=ErrorInfo(type=stored_type, message="m"),
    )
    with pytest.raises(JobExecutionError) as error:
        result_value(record)
    assert type(error.value) is getattr(naq.client, raised)
    assert error.value.error_type == stored_type


async def test_a_wait_outlives_a_results_bucket_that_is_gone_and_comes_back(test_settings: Settings, nc: Any) -> None:
    connection = await get_connection(test_settings)
    await kv(connection, names.RESULTS_BUCKET)  # this connection now takes the bucket as there
    await nc.request(f"$JS.API.STREAM.DELETE.KV_{names.RESULTS_BUCKET}", b"", timeout=5)
    job = Job("after-reset-1", "default", test_settings)
    wait = asyncio.create_task(job.result(timeout=20))
    await asyncio.sleep(1.5)  # past the wait's re-reads, each of which found no bucket at all
    assert not wait.done(), wait
    await nc.publish(result_subject(job.job_id), _completed(job.job_id, "back").encode())
    assert await wait == "back"
