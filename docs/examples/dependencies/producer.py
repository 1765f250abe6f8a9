"""Jobs that wait for other jobs: a chain, a fan-in, and a failed dependency.

``depends_on`` takes a job (or its id), or a list of them. The dependent is parked, taking no
worker slot, until every job it depends on completed; if one fails for good (or is cancelled),
the dependent fails too, without running, with ``DependencyFailedError``.

Run a worker first, in this folder: ``naq-worker default --allow-module tasks``.
"""

import asyncio

from naq.client import DependencyFailedError, Queue, close

from tasks import clean, extract, total


async def main() -> None:
    queue = Queue("default")

    # A chain: extract -> clean -> total, each step waiting for the one before.
    raw = await queue.enqueue(extract, "eu")
    cleaned = await queue.enqueue(clean, raw.job_id, depends_on=raw)
    eu_total = await queue.enqueue(total, cleaned.job_id, depends_on=cleaned)
    print(f"chain: eu total of the cleaned figures = {await eu_total.result(timeout=30)}")

    # A fan-in: one extract per region, run in parallel; the total waits for all three.
    regions = [await queue.enqueue(extract, region) for region in ("eu", "us", "asia")]
    grand_total = await queue.enqueue(total, *[job.job_id for job in regions], depends_on=regions)
    print(f"fan-in: total over all regions = {await grand_total.result(timeout=30)}")

    # A failed dependency: there is no data for "mars", so its extract fails, and the total that
    # depends on it fails without running.
    good, bad = await queue.enqueue(extract, "us"), await queue.enqueue(extract, "mars")
    doomed = await queue.enqueue(total, good.job_id, bad.job_id, depends_on=[good, bad])
    try:
        await doomed.result(timeout=30)
    except DependencyFailedError as exc:
        print(f"failed dependency: {exc.error_type}: {exc.error_message}")
    print(f"status of the total: {await doomed.status()}")

    await close()


if __name__ == "__main__":
    asyncio.run(main())
