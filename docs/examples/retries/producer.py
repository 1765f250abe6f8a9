"""Retries and the dead-letter queue.

Three jobs:

- ``fetch_rates`` fails twice with ``ConnectionError`` and is retried (exponential backoff: 1 s,
  then 2 s) until its third attempt succeeds;
- ``sync_inventory`` fails every attempt: after its last retry it fails for good;
- ``charge_card`` raises ``PaymentDeclined``, which ``ignore_on`` says never to retry: it fails
  for good at once, whatever ``max_retries`` says.

A job that fails for good lands in the dead-letter queue (DLQ) with its error, traceback and
attempts; ``naq failed list`` shows it, ``naq failed requeue JOB_ID`` runs it again.

Run a worker first, in this folder: ``naq-worker default --allow-module tasks``.
"""

import asyncio

import naq.client
from naq.client import JobExecutionError, Queue

from tasks import PaymentDeclined, charge_card, fetch_rates, sync_inventory


async def main() -> None:
    queue = Queue("default")

    rates = await queue.enqueue(
        fetch_rates,
        "EUR",
        max_retries=3,  # up to 3 retries after the first attempt: 4 attempts in all
        retry_delay=1,  # seconds before the first retry...
        retry_strategy="exponential",  # ...then doubled each time: 1 s, 2 s, 4 s
        retry_on=ConnectionError,  # only these errors are retried (subclasses too)
    )
    inventory = await queue.enqueue(sync_inventory, max_retries=2, retry_delay=[1, 2], retry_on=ConnectionError)
    # ignore_on: never retried, whatever max_retries says. The class travels with the job as its
    # name ("tasks:PaymentDeclined") and matches subclasses too, as retry_on does.
    payment = await queue.enqueue(charge_card, "4242", 100, max_retries=5, retry_delay=1, ignore_on=PaymentDeclined)

    print(await rates.result(timeout=60))
    failing = {inventory.job_id: "sync_inventory", payment.job_id: "charge_card"}
    for job in (inventory, payment):
        try:
            await job.result(timeout=60)
        except JobExecutionError as exc:
            # error_type is the exception's "module:Name"; the worker's traceback is exc.traceback.
            print(f"{failing[job.job_id]} failed: {exc.error_type}: {exc.error_message}")

    # The dead-letter queue, read without consuming it. It keeps earlier runs' jobs too (for
    # NAQ_FAILED_JOBS_MAX_AGE, 30 days by default), so pick out this run's.
    async for entry in naq.client.failed_jobs("default"):
        if entry.id in failing:
            record = entry.record
            print(f"in the DLQ: {failing[entry.id]} after {record.attempts} attempt(s), job id {entry.id}")

    await naq.client.close()


if __name__ == "__main__":
    asyncio.run(main())
