"""Dependencies on the producer side: parking on a fresh server, and in test mode (inline_jobs)."""

from __future__ import annotations

from typing import Any

import pytest

from naq.client import DependencyFailedError, JobCancelledError, JobStatus, Queue, cancel_job
from naq.client._connection import get_connection
from naq.client._resources import kv
from naq.client.testing import inline_jobs
from naq.protocol import JobStatusRecord, ParkedJobRecord, ResultRecord, Settings


async def test_a_dependent_enqueued_on_a_fresh_server_is_parked(test_settings: Settings, js: Any) -> None:
    # No worker has run yet: the buckets do not exist until the producer needs them.
    queue = Queue(settings=test_settings)
    parent = await queue.enqueue("harness.jobs:add", 1, 2)
    child = await queue.enqueue("harness.jobs:add", 3, 4, depends_on=parent)
    assert await child.status() == JobStatus.WAITING
    waiting = await js.key_value("naq_waiting")
    parked = ParkedJobRecord.decode((await waiting.get(f"{parent.job_id}.{child.job_id}")).value)
    assert parked.job.job_id == child.job_id
    assert parked.job.depends_on == (parent.job_id,)
    assert parked.deadline - parked.parked_at == pytest.approx(test_settings.dependency_timeout)
    status = JobStatusRecord.decode((await (await js.key_value("naq_job_status")).get(child.job_id)).value)
    assert status.waiting_on == (parent.job_id,)
    # Only the parent is on the queue; the child's deadline waits as a server-side schedule.
    info = await js.stream_info("naq_jobs", subjects_filter=">")
    assert info.state.subjects == {"naq.queue.default": 1, f"naq.delayed.{child.job_id}.deadline": 1}


async def test_the_producer_decides_when_the_dependencies_already_ended(test_settings: Settings, js: Any) -> None:
    queue = Queue(settings=test_settings)
    await kv(await get_connection(test_settings), "naq_results")  # the bucket as naq creates it
    done = ResultRecord(job_id="done-dep", queue="default", status="completed", attempts=1, finished_at=1.0)
    await js.publish("$KV.naq_results.done-dep", done.encode())
    child = await queue.enqueue("harness.jobs:add", 3, 4, depends_on="done-dep")
    # Not parked: straight to the queue, marked as having its dependencies met.
    info = await js.stream_info("naq_jobs", subjects_filter=">")
    assert info.state.subjects == {"naq.queue.default": 1}
    message = await js.get_last_msg("naq_jobs", "naq.queue.default")
    assert message.headers["Naq-Dependencies"] == "met"
    assert message.headers["Nats-Msg-Id"] == child.job_id


async def test_cancel_of_a_parked_job_ends_it_cancelled_without_a_worker(test_settings: Settings) -> None:
    queue = Queue(settings=test_settings)
    child = await queue.enqueue("harness.jobs:add", 3, 4, depends_on="never-comes")
    assert await cancel_job(child.job_id, nats_url=list(test_settings.nats_url)) is True
    assert await child.status() == JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        await child.result(timeout=5)
    assert await child.cancel() is False  # already cancelled


async def test_inline_dependencies_wait_run_and_fail_like_a_real_queue() -> None:
    with inline_jobs() as runner:
        queue = Queue()
        late = await queue.enqueue("harness.jobs:add", 1, 1, depends_on="parent-inline")
        assert await late.status() == JobStatus.WAITING
        with pytest.raises(TimeoutError, match="waits for its dependencies"):
            await late.result()
        parent = await queue.enqueue("harness.jobs:add", 2, 2, job_id="parent-inline")
        assert await parent.result() == 4
        assert await late.result() == 2
        assert runner.ran == [parent.job_id, late.job_id]

        failing = await queue.enqueue("harness.jobs:fail_now")
        dependent = await queue.enqueue("harness.jobs:add", 5, 5, depends_on=[parent, failing])
        grandchild = await queue.enqueue("harness.jobs:add", 6, 6, depends_on=dependent)
        with pytest.raises(DependencyFailedError, match=failing.job_id):
            await dependent.result()
        with pytest.raises(DependencyFailedError, match=dependent.job_id):
            await grandchild.result()
        assert dependent.job_id not in runner.ran


async def test_inline_cancel_of_a_waiting_job_fails_its_dependents() -> None:
    with inline_jobs() as runner:
        queue = Queue()
        waiting = await queue.enqueue("harness.jobs:add", 1, 1, depends_on="never-inline")
        dependent = await queue.enqueue("harness.jobs:add", 2, 2, depends_on=waiting)
        assert await cancel_job(waiting.job_id) is True
        assert await waiting.status() == JobStatus.CANCELLED
        with pytest.raises(JobCancelledError):
            await waiting.result()
        with pytest.raises(DependencyFailedError):
            await dependent.result()
        done = await queue.enqueue("harness.jobs:add", 3, 3)
        assert await done.cancel() is False  # it ran already
        assert runner.ran == [done.job_id]
