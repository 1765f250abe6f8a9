"""Reading results is safe too (issue 13): a result stored as pickle is unpickled only where the
reading side opted in (``allow_pickle=True`` on the read, or ``NAQ_ALLOW_PICKLE``).

Before, ``result_value`` unpickled whenever the record said pickle, so whoever could write to
``naq_results`` ran code in every process reading results. The hostile record here would create
a file when unpickled: without the opt-in the read is a ``PickleNotAllowedError`` and no file.
"""

from __future__ import annotations

import base64
import dataclasses
import pathlib
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from naq.client import (
    Job,
    PickleNotAllowedError,
    Queue,
    SerializationError,
    SyncJob,
    fetch_job_result,
    fetch_job_result_sync,
)
from naq.client._connection import get_connection
from naq.client._resources import kv
from naq.client.testing import inline_jobs
from naq.protocol import ResultRecord, Settings, names


class _Touches:
    """Unpickling this creates ``path`` (as a hostile record's payload would run anything)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def _pickled(job_id: str, value: Any) -> ResultRecord:
    return ResultRecord(
        job_id=job_id,
        queue="default",
        status="completed",
        attempts=1,
        finished_at=time.time(),
        serializer="pickle",
        value=base64.b64encode(cloudpickle.dumps(value)).decode("ascii"),
    )


async def _store(settings: Settings, record: ResultRecord) -> None:
    bucket = await kv(await get_connection(settings), names.RESULTS_BUCKET)
    await bucket.put(record.job_id, record.encode())


async def test_a_pickled_result_is_not_unpickled_without_the_opt_in(test_settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    await _store(test_settings, _pickled("hostile", _Touches(marker)))
    job = Job("hostile", "default", test_settings)
    with pytest.raises(PickleNotAllowedError) as refused:
        await job.result(timeout=5)
    message = str(refused.value)
    assert "job hostile is stored as pickle" in message
    assert "allow_pickle=True" in message
    assert "NAQ_ALLOW_PICKLE=true" in message
    assert isinstance(refused.value, SerializationError)
    with pytest.raises(PickleNotAllowedError):
        await fetch_job_result("hostile", nats_url=test_settings.nats_url)
    with pytest.raises(PickleNotAllowedError):
        await job.result(timeout=5, allow_pickle=False)
    assert not marker.exists(), "nothing was unpickled"


async def test_the_sync_reads_refuse_the_same(test_settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    await _store(test_settings, _pickled("hostile-sync", _Touches(marker)))
    with pytest.raises(PickleNotAllowedError):
        fetch_job_result_sync("hostile-sync", nats_url=test_settings.nats_url)
    with pytest.raises(PickleNotAllowedError):
        SyncJob(Job("hostile-sync", "default", test_settings)).result(timeout=5)
    assert not marker.exists()


async def test_a_reader_that_opts_in_gets_the_value(test_settings: Settings) -> None:
    await _store(test_settings, _pickled("trusted", {1, 2}))
    job = Job("trusted", "default", test_settings)
    assert await job.result(timeout=5, allow_pickle=True) == {1, 2}
    assert await fetch_job_result("trusted", nats_url=test_settings.nats_url, allow_pickle=True) == {1, 2}
    assert fetch_job_result_sync("trusted", nats_url=test_settings.nats_url, allow_pickle=True) == {1, 2}
    assert SyncJob(job).result(timeout=5, allow_pickle=True) == {1, 2}
    # NAQ_ALLOW_PICKLE (the settings' allow_pickle) is the opt-in when the read does not say.
    trusting = dataclasses.replace(test_settings, allow_pickle=True)
    assert await Job("trusted", "default", trusting).result(timeout=5) == {1, 2}
    with pytest.raises(PickleNotAllowedError):
        await Job("trusted", "default", trusting).result(timeout=5, allow_pickle=False)


async def test_fetch_job_result_reads_naq_allow_pickle(
    test_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _store(test_settings, _pickled("by-env", [1]))
    monkeypatch.setenv("NAQ_NATS_URL", ",".join(test_settings.nats_url))
    monkeypatch.setenv("NAQ_ALLOW_PICKLE", "true")
    assert await fetch_job_result("by-env") == [1]
    monkeypatch.setenv("NAQ_ALLOW_PICKLE", "false")
    with pytest.raises(PickleNotAllowedError):
        await fetch_job_result("by-env")


def _make_set() -> set[int]:
    return {1, 2}


async def test_test_mode_reads_pickled_results_the_same_way(test_settings: Settings) -> None:
    pickling = Queue(settings=dataclasses.replace(test_settings, job_serializer="pickle"))
    with inline_jobs():
        job = await pickling.enqueue(_make_set)
        with pytest.raises(PickleNotAllowedError):
            await job.result()
        with pytest.raises(PickleNotAllowedError):
            await fetch_job_result(job.job_id, nats_url=test_settings.nats_url)
        assert await job.result(allow_pickle=True) == {1, 2}
        assert await fetch_job_result(job.job_id, nats_url=test_settings.nats_url, allow_pickle=True) == {1, 2}
