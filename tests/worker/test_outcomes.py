"""Recording how a job ends (naq.worker._outcomes), on real deliveries from a real server.

Each test delivers one message from the default queue's consumer, hands it to the outcomes with a
:class:`PartsHost` for the worker, and reads back what a worker leaves behind: the result record,
the dead letter, the job status, the ack and the event.
"""

from __future__ import annotations

from typing import Any

from harness.waiting import async_wait_for
from harness.worker_parts import PartsHost, QueueTap, envelope, last_event, last_record, wire_parts
from naq.client.runtime import Connection, read_result_record
from naq.protocol import (
    DependencyOutcome,
    ErrorInfo,
    FailedJobRecord,
    JobStatus,
    JobStatusRecord,
    JobTimeoutError,
    SerializationError,
    UndecodableMessageRecord,
    names,
)
from naq.protocol.subjects import delayed_subject, event_subject, failed_subject, system_event_subject
from naq.worker._delivery import Delivery
from naq.worker._outcomes import STORAGE_RETRY_DELAY, Permanent


async def _delivered(tap: QueueTap, job: Any) -> Delivery:
    message = await tap.deliver(job)
    delivery = Delivery(message, tap.queue)
    if not isinstance(job, bytes):
        delivery.job_id, delivery.envelope = job.job_id, job
    return delivery


async def _settled(tap: QueueTap) -> None:
    """Nothing pending or unacknowledged on the queue: the message was acked."""
    await async_wait_for(lambda: _is_settled(tap), timeout=5, what="the message acked")


async def _is_settled(tap: QueueTap) -> bool:
    return await tap.pending() == (0, 0)


async def test_a_completed_job_has_its_result_stored_acked_counted_and_announced(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("done-1", "harness.jobs:add", 1, 2)
    delivery = await _delivered(tap, job)
    assert await outcomes.completed(delivery, job, 1, 0, 3, started=100.0) is None
    record = await read_result_record(connection, "done-1")
    assert record is not None
    assert (record.status, record.value, record.attempts, record.worker_id) == ("completed", 3, 1, "parts-worker")
    assert record.started_at == 100.0
    await _settled(tap)
    assert (host.processed, host.processed_by_queue, host.failed) == (1, {"default": 1}, 0)
    event = await last_event(connection, event_subject("default", "completed"))
    assert event.job_id == "done-1"
    assert event.worker_id == "parts-worker"
    await host.completions.close()


async def test_failing_for_good_dead_letters_the_job_then_writes_the_failed_result(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("bad-1", "harness.jobs:add", 1, "x")
    delivery = await _delivered(tap, job)
    error = ErrorInfo(type="builtins:TypeError", message="unsupported operand", traceback="Traceback ...")
    await outcomes.failed_for_good(delivery, job, 2, error, started=5.0)

    record = await read_result_record(connection, "bad-1")
    assert record is not None
    assert (record.status, record.attempts, record.error, record.started_at) == ("failed", 2, error, 5.0)
    dead = await last_record(connection, names.FAILED_JOBS_STREAM, failed_subject("default", "bad-1"), FailedJobRecord)
    assert dead is not None, "the job is in the DLQ, whole, to be requeued"
    assert (dead.job, dead.error, dead.attempts, dead.worker_id) == (job, error, 2, "parts-worker")
    await _settled(tap)
    assert (host.failed, host.failed_by_queue, host.processed) == (1, {"default": 1}, 0)
    event = await last_event(connection, event_subject("default", "failed"))
    assert event.job_id == "bad-1"
    assert event.data["error_type"] == "builtins:TypeError"
    assert event.data["attempt"] == 2


async def test_a_failure_with_retries_left_is_retried_by_a_delayed_nak(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("flaky-1", "harness.jobs:add", max_retries=2, retry_delay=0.2)
    delivery = await _delivered(tap, job)
    await outcomes.failed(delivery, job, 1, 0, JobTimeoutError.after(1.0), started=1.0)

    status = await last_record(
        connection, f"KV_{names.JOB_STATUS_BUCKET}", f"$KV.{names.JOB_STATUS_BUCKET}.flaky-1", JobStatusRecord
    )
    assert status is not None
    assert (status.status, status.attempts, status.deliveries) == (JobStatus.RETRYING, 1, 1)
    assert await read_result_record(connection, "flaky-1") is None, "no result: the job is not over"
    [again] = await tap.fetch(1)  # the nak's delay, then delivered again
    assert again.metadata.num_delivered == 2
    await again.ack()
    event = await last_event(connection, event_subject("default", "retrying"))
    assert event.data["attempt"] == 1
    assert event.data["error"].startswith("JobTimeoutError: job exceeded its timeout of 1.0 s")
    assert (await last_event(connection, event_subject("default", "started"))).job_id == "flaky-1"
    assert host.failed == 0


async def test_a_long_retry_delay_acks_and_republishes_through_a_server_side_schedule(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("later-1", "harness.jobs:add", max_retries=1, retry_delay=60)
    delivery = await _delivered(tap, job)
    await outcomes.failed(delivery, job, 1, 0, ValueError("not yet"), started=1.0)
    await _settled(tap)  # acked: a long wait holds no ack-pending capacity
    message = await connection.js.get_last_msg(names.JOBS_STREAM, delayed_subject("later-1", 2))
    assert message.headers[names.HEADER_ATTEMPT] == "2"
    assert message.headers[names.HEADER_SCHEDULE_TARGET] == "naq.queue.default"
    assert message.headers[names.HEADER_MSG_ID] == "later-1.retry.2"


async def test_a_permanent_failure_is_not_retried_whatever_the_policy(host: PartsHost, tap: QueueTap) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("perm-1", "harness.jobs:add", max_retries=5)
    delivery = await _delivered(tap, job)
    await outcomes.failed(delivery, job, 1, 0, Permanent(SerializationError("cannot store")), started=1.0)
    record = await read_result_record(tap.connection, "perm-1")
    assert record is not None
    assert record.error is not None
    assert (record.status, record.attempts, record.error.type) == ("failed", 1, "naq.client:SerializationError")
    await _settled(tap)


async def test_a_cancelled_job_gets_its_cancelled_result_and_event(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("stop-1")
    delivery = await _delivered(tap, job)
    await outcomes.cancelled(delivery, job, 0, started=None)
    record = await read_result_record(connection, "stop-1")
    assert record is not None
    assert record.error is not None
    assert (record.status, record.attempts, record.error.type) == ("cancelled", 0, "naq.client:JobCancelledError")
    await _settled(tap)
    assert (await last_event(connection, event_subject("default", "cancelled"))).job_id == "stop-1"
    assert (host.processed, host.failed) == (0, 0), "a cancel is neither completed nor failed"


async def test_an_undecodable_message_keeps_its_raw_bytes_in_the_dlq(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    delivery = await _delivered(tap, b"not a job")
    sequence = delivery.message.metadata.sequence.stream
    await outcomes.undecodable(delivery, SerializationError("not JSON"))
    subject = f"naq.failed.default._raw.{sequence}"
    record = await last_record(connection, names.FAILED_JOBS_STREAM, subject, UndecodableMessageRecord)
    assert record is not None
    assert (record.data, record.original_size) == ("bm90IGEgam9i", 9)  # "not a job", whole
    assert record.error.type == "naq.client:SerializationError"
    await _settled(tap)
    assert host.failed_by_queue == {"default": 1}


async def test_a_result_that_cannot_be_written_has_the_job_delivered_again_later(
    host: PartsHost, tap: QueueTap, connection: Connection
) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("unstored-1")
    delivery = await _delivered(tap, job)
    await connection.js.delete_stream(f"KV_{names.RESULTS_BUCKET}")  # a lost bucket
    assert await outcomes.completed(delivery, job, 1, 0, 3, started=1.0) is None
    event = await last_event(connection, system_event_subject("storage_error"))
    assert event.worker_id == "parts-worker"
    assert host.processed == 0, "not counted: the job is not done"
    # Nak'd with a delay, neither acked nor lost: it comes back once the delay is over.
    assert await tap.pending() == (0, 1)
    [again] = await tap.fetch(1, timeout=STORAGE_RETRY_DELAY + 5)
    assert again.metadata.num_delivered == 2
    await again.ack()


async def test_a_job_failed_before_it_ran_records_no_attempt_and_no_start(host: PartsHost, tap: QueueTap) -> None:
    _, outcomes, _ = wire_parts(host)
    job = envelope("never-1", depends_on=("parent-x",))
    delivery = await _delivered(tap, job)
    error = ErrorInfo.dependency_failed(job.job_id, "parent-x", DependencyOutcome.FAILED)
    await outcomes.failed_for_good(delivery, job, 0, error, started=None)
    record = await read_result_record(tap.connection, job.job_id)
    assert record is not None
    assert (record.attempts, record.started_at, record.error) == (0, None, error)
