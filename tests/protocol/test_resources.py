"""naq's stream, consumer and bucket specs are accepted by a real nats-server and behave as designed."""

from __future__ import annotations

import time
from typing import Any

import nats.js.errors
import pytest

from harness.jetstream_api import create_consumer, create_stream, stream_info
from harness.waiting import async_wait_for
from naq.protocol import Settings, config_differences, names, resources
from naq.protocol.subjects import delayed_subject, queue_subject, schedule_at


@pytest.fixture
def settings(nats_url: str) -> Settings:
    """Default settings pointed at the test server."""
    return Settings.from_env({}, nats_url=nats_url)


async def test_every_stream_is_accepted_and_reads_back_unchanged(nc: Any, settings: Settings) -> None:
    for spec in resources.all_streams(settings):
        created = await create_stream(nc, spec)
        assert config_differences(spec.api_config(), created["config"]) == [], spec.name
        again = await create_stream(nc, spec)  # creating with the same config is idempotent
        assert config_differences(spec.api_config(), again["config"]) == []
    infos = [await stream_info(nc, spec.name) for spec in resources.all_streams(settings)]
    assert {info["config"]["name"] for info in infos} == {
        names.JOBS_STREAM,
        names.FAILED_JOBS_STREAM,
        names.EVENTS_STREAM,
        *(f"KV_{b.bucket}" for b in resources.all_buckets(settings)),
    }


async def test_a_materially_different_stream_is_reported(nc: Any, settings: Settings) -> None:
    other = Settings.from_env({}, failed_jobs_max_age=60)
    await create_stream(nc, resources.failed_jobs_stream(other))
    info = await stream_info(nc, names.FAILED_JOBS_STREAM)
    expected = resources.failed_jobs_stream(settings).api_config()
    differences = config_differences(expected, info["config"])
    assert f"max_age: expected {expected['max_age']}, found {60 * 10**9}" in differences
    assert all(d.startswith(("max_age", "duplicate_window")) for d in differences)


async def test_queue_consumers_share_the_work_queue_stream(nc: Any, js: Any, settings: Settings) -> None:
    await create_stream(nc, resources.jobs_stream(settings))
    for queue in ("default", "emails"):
        spec = resources.queue_consumer(queue, settings)
        info = await create_consumer(nc, spec)
        assert config_differences(spec.api_config(), info["config"]) == []
    await js.publish(queue_subject("default"), b"d")
    await js.publish(queue_subject("emails"), b"e")
    for queue, payload in (("default", b"d"), ("emails", b"e")):
        sub = await js.pull_subscribe_bind(f"naq-worker-{queue}", stream=names.JOBS_STREAM)
        [message] = await sub.fetch(1, timeout=5)
        assert message.data == payload
        await message.ack_sync()
    assert (await stream_info(nc, names.JOBS_STREAM))["state"]["messages"] == 0  # work queue: acked = gone


async def test_job_ids_deduplicate_within_the_window(nc: Any, js: Any, settings: Settings) -> None:
    await create_stream(nc, resources.jobs_stream(settings))
    first = await js.publish(queue_subject("default"), b"job", headers={names.HEADER_MSG_ID: "job-1"})
    second = await js.publish(queue_subject("default"), b"job", headers={names.HEADER_MSG_ID: "job-1"})
    assert not first.duplicate
    assert second.duplicate


async def test_server_side_schedule_moves_a_delayed_job_to_its_queue(nc: Any, js: Any, settings: Settings) -> None:
    await create_stream(nc, resources.jobs_stream(settings))
    await create_consumer(nc, resources.queue_consumer("default", settings))
    sub = await js.pull_subscribe_bind("naq-worker-default", stream=names.JOBS_STREAM)
    published = time.time()
    await js.publish(
        delayed_subject("job-1", 1),
        b"later",
        headers={
            names.HEADER_SCHEDULE: schedule_at(published + 1),
            names.HEADER_SCHEDULE_TARGET: queue_subject("default"),
            names.HEADER_MSG_ID: "job-1.retry.1",
        },
    )
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.2)  # not before its time
    [message] = await async_wait_for(lambda: _fetch_some(sub), timeout=10, what="scheduled job delivered")
    assert message.data == b"later"
    assert time.time() >= published + 0.9


async def _fetch_some(sub: Any) -> list[Any]:
    try:
        return await sub.fetch(1, timeout=0.5)
    except nats.errors.TimeoutError:
        return []


def test_the_queue_bound_is_enforced_by_producers_not_by_dropping_jobs() -> None:
    spec = resources.jobs_stream(Settings.from_env({}, queue_max_bytes=2048))
    # Message schedules rule out discard-new, and discard-old with a limit would drop queued jobs.
    assert (spec.max_bytes, spec.discard, spec.allow_msg_schedules) == (-1, "old", True)
    bounded = Settings.from_env({}, queue_max_bytes=2048)
    assert not resources.queue_is_full(2047, bounded)
    assert resources.queue_is_full(2048, bounded)
    assert not resources.queue_is_full(10**15, Settings.from_env({}, queue_max_bytes=-1))


async def test_results_bucket_takes_per_key_ttls(nc: Any, js: Any, settings: Settings) -> None:
    await create_stream(nc, resources.results_bucket(settings).stream())
    kv = await js.key_value(names.RESULTS_BUCKET)
    await kv.create("short", b"gone soon", msg_ttl=1)
    await kv.create("long", b"stays")
    assert (await kv.get("short")).value == b"gone soon"

    async def short_expired() -> bool:
        try:
            await kv.get("short")
        except nats.js.errors.KeyNotFoundError:
            return True
        return False

    await async_wait_for(short_expired, timeout=10, what="per-key TTL expiry")
    assert (await kv.get("long")).value == b"stays"
    # Direct get is enabled: any replica answers with the raw value, no consumer involved.
    reply = await nc.request(
        f"$JS.API.DIRECT.GET.KV_{names.RESULTS_BUCKET}", b'{"last_by_subj": "$KV.naq_results.long"}', timeout=5
    )
    assert reply.data == b"stays"


async def test_worker_heartbeats_expire_visibly_to_watchers(nc: Any, js: Any) -> None:
    settings = Settings.from_env({}, worker_ttl=1, worker_heartbeat_interval=0.5)
    await create_stream(nc, resources.workers_bucket(settings).stream())
    kv = await js.key_value(names.WORKERS_BUCKET)
    watcher = await kv.watch("w1")
    await kv.put("w1", b"alive")
    seen: list[str] = []

    async def expiry_seen() -> bool:
        try:
            entry = await watcher.updates(timeout=0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            return False
        if entry is not None:
            seen.append(entry.operation or "PUT")
        return any(op != "PUT" for op in seen)

    await async_wait_for(expiry_seen, timeout=15, what="delete marker for an expired heartbeat")
    await watcher.stop()
