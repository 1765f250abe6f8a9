"""Signed jobs end to end (``NAQ_SIGNING_KEY``): producers sign, workers with keys run only jobs
whose signature checks out before anything is decoded, and every republish (a delayed retry, a
released dependent, a dead-letter requeue) carries the producer's signature.

In-process workers on the test server; rejected messages are read back from the real
dead-letter queue, results and statuses from their buckets.
"""

from __future__ import annotations

import base64
import pickle
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

import naq.client
from harness.jobs import add, fail_times, noop, runs, sleep_then_record
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import FailedEntry, Queue, Settings
from naq.client._connection import open_connection
from naq.client._failed import describe
from naq.client._options import JobOptions, build_envelope
from naq.client._publish import job_message
from naq.protocol import EventRecord, JobEnvelope, RejectReason, UndecodableMessageRecord, names
from naq.protocol.subjects import queue_subject

ALLOWED = ("harness",)
KEY = "k1:worker-and-producer-secret"


def signed(settings: Settings, keys: str) -> Settings:
    return Settings.from_env(settings.as_env(), signing_key=keys)


async def rejected(url: str, sequence_above: int = 0) -> list[UndecodableMessageRecord]:
    entries: list[FailedEntry] = [entry async for entry in naq.client.failed_jobs(nats_url=url)]
    return [
        e.record
        for e in entries
        if isinstance(e.record, UndecodableMessageRecord) and e.record.stream_sequence > sequence_above
    ]


async def one_rejection(url: str) -> UndecodableMessageRecord:
    [record] = await async_wait_for(lambda: rejected(url), timeout=10, what="a rejected message in the DLQ")
    return record


async def no_key(js: Any, bucket: str, key: str) -> bool:
    kv = await js.key_value(bucket)
    try:
        await kv.get(key)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.NotFoundError):
        return True
    return False


async def raw_publish(settings: Settings, data: bytes, headers: dict[str, str]) -> None:
    """Publish a message to the default queue as a non-naq publisher would."""
    connection = await open_connection(settings)
    try:
        await connection.js.publish(queue_subject("default"), data, headers=headers)
    finally:
        await connection.close()


async def signed_message(settings: Settings, job_id: str, *args: Any) -> tuple[bytes, dict[str, str]]:
    """The data and headers of a job ``add(*args)`` as a producer with ``settings`` signs it."""
    connection = await open_connection(settings)
    try:
        envelope = build_envelope(add, args, {}, JobOptions(job_id=job_id), "default", settings)
        message = job_message(connection, envelope)
    finally:
        await connection.close()
    return message.data, dict(message.headers)


async def test_a_signed_job_runs_on_a_worker_with_the_key_and_on_one_without_keys(
    run_worker: WorkerRunner, test_settings: Settings
) -> None:
    keyed = signed(test_settings, KEY)
    queue = Queue(settings=keyed)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED):
        assert await (await queue.enqueue(add, 2, 3)).result(timeout=20) == 5
    async with run_worker(allowed_modules=ALLOWED):  # no keys: signed jobs run as before
        assert await (await queue.enqueue(add, 4, 5)).result(timeout=20) == 9


async def test_an_unsigned_job_is_rejected_to_the_dlq_with_nothing_under_its_id(
    run_worker: WorkerRunner, test_settings: Settings, js: Any, nc: Any
) -> None:
    url = test_settings.servers[0]
    keyed = signed(test_settings, KEY)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED):
        unsigned = await Queue(settings=test_settings).enqueue(add, 1, 1, job_id="claimed-id")
        record = await one_rejection(url)
        assert record.reason is RejectReason.UNSIGNED
        assert record.job_id is None
        assert "not signed" in record.error.message
        assert record.error.type == "naq.worker:JobRejectedError"
        # The worker goes on: a signed job after it completes.
        assert await (await Queue(settings=keyed).enqueue(add, 2, 2)).result(timeout=20) == 4
    assert await no_key(js, names.RESULTS_BUCKET, unsigned.job_id)
    assert await no_key(js, names.JOB_STATUS_BUCKET, unsigned.job_id)
    event = EventRecord.decode((await js.get_last_msg(names.EVENTS_STREAM, "naq.events.default.failed")).data)
    assert event.job_id is None
    assert event.data["reason"] == "unsigned"


async def test_tampered_data_with_a_copied_valid_header_is_rejected(
    run_worker: WorkerRunner, test_settings: Settings, js: Any, tmp_path: Path
) -> None:
    url = test_settings.servers[0]
    keyed = signed(test_settings, KEY)
    data, headers = await signed_message(keyed, "tampered", 1, 2)
    evil = data.replace(b'"args":[1,2]', b'"args":[1,3]')
    assert evil != data
    async with run_worker(settings=keyed, allowed_modules=ALLOWED):
        await raw_publish(test_settings, evil, headers)
        record = await one_rejection(url)
    assert record.reason is RejectReason.BAD_SIGNATURE
    assert "does not match" in record.error.message
    assert record.headers[names.HEADER_SIGNATURE] == headers[names.HEADER_SIGNATURE]
    [entry] = [e async for e in naq.client.failed_jobs(nats_url=url)]
    assert describe(entry)["reason"] == "bad_signature"  # what `naq failed list/show` print
    assert await no_key(js, names.RESULTS_BUCKET, "tampered")


async def test_a_job_signed_with_a_key_the_worker_does_not_hold_is_rejected(
    run_worker: WorkerRunner, test_settings: Settings, js: Any
) -> None:
    url = test_settings.servers[0]
    job = await Queue(settings=signed(test_settings, "k9:some-other-secret")).enqueue(add, 1, 2)
    async with run_worker(settings=signed(test_settings, KEY), allowed_modules=ALLOWED):
        record = await one_rejection(url)
    assert record.reason is RejectReason.UNKNOWN_KEY
    assert "key id k9" in record.error.message
    assert await no_key(js, names.RESULTS_BUCKET, job.job_id)


async def test_rotation_new_key_first_on_producers_both_on_workers(
    run_worker: WorkerRunner, test_settings: Settings
) -> None:
    """Producer ``new:…,old:…`` signs with new; a worker ``old:…,new:…`` accepts it, and a job a
    producer still on the old key signed."""
    rotated = Queue(settings=signed(test_settings, "new:N-secret,old:O-secret"))
    still_old = Queue(settings=signed(test_settings, "old:O-secret"))
    async with run_worker(settings=signed(test_settings, "old:O-secret,new:N-secret"), allowed_modules=ALLOWED):
        assert await (await rotated.enqueue(add, 1, 2)).result(timeout=20) == 3
        assert await (await still_old.enqueue(add, 3, 4)).result(timeout=20) == 7


async def test_a_delayed_retry_carries_the_signature(
    run_worker: WorkerRunner, test_settings: Settings, tmp_path: Path
) -> None:
    """A retry delay above the nak limit (5 s) goes through a server-side schedule: the republished
    job still verifies on a worker with keys."""
    keyed = signed(test_settings, KEY)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED):
        job = await Queue(settings=keyed).enqueue(fail_times, str(tmp_path), "retry", 1, max_retries=1, retry_delay=5.5)
        assert await job.result(timeout=30) == "done"
    assert len(runs(str(tmp_path), "retry")) == 2
    assert await rejected(test_settings.servers[0]) == []


async def test_a_parked_dependent_released_after_its_parent_verifies(
    run_worker: WorkerRunner, test_settings: Settings, tmp_path: Path
) -> None:
    keyed = signed(test_settings, KEY)
    queue = Queue(settings=keyed)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED):
        parent = await queue.enqueue(sleep_then_record, str(tmp_path), "parent", 1.0)
        child = await queue.enqueue(sleep_then_record, str(tmp_path), "child", 0.0, depends_on=parent)
        assert await child.result(timeout=30) == "child"
    assert runs(str(tmp_path), "parent")[0] < runs(str(tmp_path), "child")[0]
    assert await rejected(test_settings.servers[0]) == []


async def test_a_dlq_requeue_keeps_the_signature_and_runs(
    run_worker: WorkerRunner, test_settings: Settings, tmp_path: Path
) -> None:
    url = test_settings.servers[0]
    keyed = signed(test_settings, KEY)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED):
        job = await Queue(settings=keyed).enqueue(fail_times, str(tmp_path), "requeued", 1, max_retries=0)
        with pytest.raises(naq.client.JobExecutionError):
            await job.result(timeout=20)

        async def entry() -> list[FailedEntry]:
            return [e async for e in naq.client.failed_jobs(nats_url=url) if e.id == job.job_id]

        [failed] = await async_wait_for(entry, timeout=10, what="the dead-letter record")
        assert failed.record.signature is not None
        # Requeued by an operator who holds no key: the job's own signature goes with it.
        await naq.client.requeue_failed_job(job.job_id, nats_url=url)
        assert await job.result(timeout=20) == "done"
    assert await rejected(url) == []


async def test_a_rejected_message_does_not_stop_the_next_ones(
    run_worker: WorkerRunner, test_settings: Settings
) -> None:
    url = test_settings.servers[0]
    keyed = signed(test_settings, KEY)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED, concurrency=2):
        for _ in range(3):
            await Queue(settings=test_settings).enqueue(noop)
        jobs = [await Queue(settings=keyed).enqueue(add, i, i) for i in range(3)]
        assert [await job.result(timeout=20) for job in jobs] == [0, 2, 4]
        records = await async_wait_for(lambda: _at_least(rejected(url), 3), timeout=10, what="three rejections")
    assert {r.reason for r in records} == {RejectReason.UNSIGNED}


async def _at_least(found: Any, count: int) -> list[UndecodableMessageRecord] | None:
    records = await found
    return records if len(records) >= count else None


class _CreatesFile:
    """Unpickling this creates a file: the proof that a payload was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


async def test_the_signature_is_checked_before_anything_is_decoded_or_unpickled(
    run_worker: WorkerRunner, test_settings: Settings, tmp_path: Path
) -> None:
    url = test_settings.servers[0]
    marker = tmp_path / "unpickled"
    payload = base64.b64encode(pickle.dumps((noop, (_CreatesFile(str(marker)),), {}))).decode("ascii")
    envelope = JobEnvelope(
        job_id="pickled",
        queue="default",
        function="harness.jobs:noop",
        payload=payload,
        enqueued_at=1.0,
        serializer="pickle",
    )
    keyed = signed(test_settings, KEY)
    async with run_worker(settings=keyed, allowed_modules=ALLOWED, allow_pickle=True):
        await raw_publish(test_settings, b"\xff not a job", {})
        await raw_publish(test_settings, envelope.encode(), {})
        records = await async_wait_for(lambda: _at_least(rejected(url), 2), timeout=10, what="two rejections")
    # Not "undecodable": the signature check comes first, and nothing was unpickled.
    assert [r.reason for r in records] == [RejectReason.UNSIGNED, RejectReason.UNSIGNED]
    assert not marker.exists()
