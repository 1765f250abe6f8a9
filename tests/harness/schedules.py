"""Test helpers for the scheduler: what was enqueued (counted in the job stream), who leads.

Read through a raw nats-py connection, so checking touches none of naq's own connections.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

from harness.jetstream_api import kv_record
from naq.protocol import JobEnvelope, LeaderLockRecord, ScheduleRecord, SerializationError

__all__ = ["SCHEDULER_POLL", "due_millis", "leader", "published_runs", "run_due_times", "schedule_record"]

SCHEDULER_POLL = 0.25
"""Poll interval, seconds, of the scheduler processes the end-to-end scheduling tests start."""

_NO_MESSAGE = 10037


async def _msg_after(nc: Any, stream: str, sequence: int, subject: str) -> dict[str, Any] | None:
    body = {"seq": sequence + 1, "next_by_subj": subject}
    reply = await nc.request(f"$JS.API.STREAM.MSG.GET.{stream}", json.dumps(body).encode(), timeout=10)
    data = json.loads(reply.data)
    if "error" in data:
        if data["error"].get("err_code") == _NO_MESSAGE:
            return None
        raise RuntimeError(f"STREAM.MSG.GET {stream}: {data['error']}")
    return data["message"]


def _msg_id(headers_b64: str | None) -> str | None:
    for line in base64.b64decode(headers_b64 or "").split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip() == b"Nats-Msg-Id":
            return value.strip().decode()
    return None


async def published_runs(nc: Any, limit: int = 100_000) -> Counter[str]:
    """How many job messages on ``naq.queue.>`` carry each message id (nothing consumes them here)."""
    counts: Counter[str] = Counter()
    sequence = 0
    for _ in range(limit):
        message = await _msg_after(nc, "naq_jobs", sequence, "naq.queue.>")
        if message is None:
            return counts
        sequence = int(message["seq"])
        msg_id = _msg_id(message.get("hdrs"))
        if msg_id is None:
            job = JobEnvelope.decode(base64.b64decode(message.get("data") or ""))
            msg_id = f"(no id) {job.job_id}"
        counts[msg_id] += 1
    raise AssertionError(f"more than {limit} messages in naq_jobs")


def due_millis(run_job_id: str) -> int:
    """The due time (Unix milliseconds) a recurring schedule's run id carries (``<id>-r<millis>``)."""
    return int(run_job_id.rsplit("-r", 1)[1])


def run_due_times(counts: Counter[str], schedule_id: str) -> list[float]:
    """Due times (seconds) of the published runs of ``schedule_id``, in order."""
    prefix = f"{schedule_id}-r"
    return sorted(due_millis(run_id) / 1000 for run_id in counts if run_id.startswith(prefix))


async def leader(js: Any) -> str | None:
    """Instance id of the scheduler holding the leader lock now, if any."""
    try:
        lock = await kv_record(js, "naq_scheduler_lock", "leader_lock", LeaderLockRecord)
    except SerializationError:
        return None  # not a lock record: nobody holds it
    return None if lock is None else lock.instance_id  # None also for an expiry marker (no value)


async def schedule_record(js: Any, schedule_id: str) -> ScheduleRecord | None:
    """The stored record of ``schedule_id``, or ``None`` if there is none."""
    return await kv_record(js, "naq_scheduled_jobs", schedule_id, ScheduleRecord)
