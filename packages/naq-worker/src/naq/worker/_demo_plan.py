"""What ``naq demo`` enqueues, and how each job should end: one job per behaviour worth seeing."""

from __future__ import annotations

from dataclasses import dataclass

from naq.client import Queue, ScheduledJob, cancel_job
from naq.protocol import JobStatus
from naq.worker import demo_tasks

__all__ = ["DEMO_QUEUE", "SCHEDULE_RUNS", "DemoJob", "enqueue_plan"]

DEMO_QUEUE = "default"
"""The queue the demo's jobs go to and its worker serves."""

SCHEDULE_RUNS = 3
"""Runs of the demo's interval schedule (one a second)."""


@dataclass
class DemoJob:
    """One demo job: what it shows, its function, the status it should end in, and its id."""

    label: str
    function: str
    expect: JobStatus
    job_id: str


async def enqueue_plan(nats_url: str) -> tuple[list[DemoJob], ScheduledJob]:
    """Enqueue the demo's mix on ``nats_url``; return the jobs (in order) and the schedule."""
    queue = Queue(DEMO_QUEUE, nats_url)
    plan: list[DemoJob] = []

    def track(label: str, function: str, job_id: str, expect: JobStatus = JobStatus.COMPLETED) -> str:
        plan.append(DemoJob(label, function, expect, job_id))
        return job_id

    track("right away", "add(2, 3)", (await queue.enqueue(demo_tasks.add, 2, 3)).job_id)
    track("right away", "word_count()", (await queue.enqueue(demo_tasks.word_count, "naq runs jobs")).job_id)
    track("async 1 s", "slow_square(7)", (await queue.enqueue(demo_tasks.slow_square, 7)).job_id)
    flaky = await queue.enqueue(demo_tasks.flaky, failures=2, max_retries=3, retry_delay=0.5)
    track("retried 2x", "flaky(2)", flaky.job_id)
    doomed = await queue.enqueue(demo_tasks.always_fails, "bad input", max_retries=1, retry_delay=0.5)
    track("dead-letter", "always_fails()", doomed.job_id, JobStatus.FAILED)
    extract = await queue.enqueue(demo_tasks.step, "extract")
    transform = await queue.enqueue(demo_tasks.step, "transform", depends_on=[extract])
    load = await queue.enqueue(demo_tasks.step, "load", depends_on=[transform])
    track("chain 1/3", "step(extract)", extract.job_id)
    track("chain 2/3", "step(transform)", transform.job_id)
    track("chain 3/3", "step(load)", load.job_id)
    track("delayed 2 s", "add(20, 22)", (await queue.enqueue_in(2, demo_tasks.add, 20, 22)).job_id)
    cancelled = await queue.enqueue_in(60, demo_tasks.add, 0, 0)
    await cancel_job(cancelled.job_id, nats_url)
    track("cancelled", "add(0, 0)", cancelled.job_id, JobStatus.CANCELLED)
    ticks = await queue.schedule(demo_tasks.tick, interval=1, repeat=SCHEDULE_RUNS)
    return plan, ticks
