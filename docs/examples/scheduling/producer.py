"""Delayed and recurring jobs: enqueue_in, enqueue_at, an interval schedule with a repeat count,
and pausing, resuming and cancelling a schedule.

A scheduler fires them: run one (or two or three, for high availability) besides a worker, both
in this folder, each in a terminal of its own:

    naq-scheduler
    naq-worker default --allow-module tasks

All times are UTC; a naive datetime is taken as UTC.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import naq.client
from naq.client import ChangeKind, JobNotFoundError, Queue

from tasks import build_report, check_feed, send_reminder


async def main() -> None:
    queue = Queue("default")

    # One-off jobs: run once, after a delay or at a time. Each returns the Job its run will be.
    reminder = await queue.enqueue_in(timedelta(seconds=2), send_reminder, "alice")
    run_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    report = await queue.enqueue_at(run_at, build_report, "sales")
    print(f"reminder due in 2 s; sales report due at {run_at:%H:%M:%S} UTC")

    # A recurring job: every second, 3 runs in all (the first one interval from now). Watch the
    # schedule record to see the scheduler fire it: each run counts in `runs`, and the record is
    # deleted after the last one. The watch is opened first so that it misses no change.
    async with naq.client.watch_schedules() as watch:
        feed = await queue.schedule(check_feed, "news", interval=1, repeat=3)
        fired = 0
        async for change in watch:
            if change.schedule_id != feed.schedule_id:
                continue
            if change.kind is ChangeKind.DISAPPEARED:
                print(f"news feed schedule done: {change.record.repeat} runs fired")
                break
            if change.record.runs > fired:
                fired = change.record.runs
                print(f"news feed schedule fired run {fired}")

    # Pause, resume and cancel. A cron schedule (every night at 02:00, Paris time) that this
    # example never lets fire. A fixed schedule_id makes it easy to find (`naq list-scheduled`);
    # an id already in use is refused, so this example cancels any one left by an earlier run.
    await queue.cancel_scheduled_job("nightly-cleanup")
    nightly = await queue.schedule(
        check_feed, "archive", cron="0 2 * * *", cron_tz="Europe/Paris", schedule_id="nightly-cleanup"
    )
    await nightly.pause()  # fires nothing until resumed
    print(f"nightly-cleanup: {(await nightly.info()).status}")
    await nightly.resume()  # runs that fell due while paused are merged into one catch-up run
    record = await nightly.info()
    next_run = datetime.fromtimestamp(record.next_run_at, UTC)  # schedule records keep Unix seconds
    print(f"nightly-cleanup: {record.status}, next run at {next_run:%Y-%m-%d %H:%M} UTC")
    await nightly.cancel()  # gone for good
    try:
        await nightly.info()
    except JobNotFoundError:
        print("nightly-cleanup: cancelled")

    # The one-off jobs' results, once the scheduler fired them and the worker ran them.
    print(await reminder.result(timeout=30))
    print(await report.result(timeout=30))

    await naq.client.close()


if __name__ == "__main__":
    asyncio.run(main())
