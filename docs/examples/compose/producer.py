"""The compose demo's producer: enqueue a few jobs of ``tasks`` and print their results.

``docker compose --profile demo up producer`` runs it in the worker image (which has naq-client),
against the compose file's NATS (``NAQ_NATS_URL``). Run with ``--help`` for its options.
"""

from __future__ import annotations

import argparse
import asyncio

import naq.client
from naq.client import Queue

import tasks


async def produce(jobs: int, timeout: float) -> None:
    """Enqueue ``jobs`` additions and as many slow squares, then wait for and print every result."""
    queue = Queue()  # the default queue; NAQ_NATS_URL names the server
    try:
        sums = await queue.enqueue_many(tasks.add, [(i, i) for i in range(jobs)])
        squares = await queue.enqueue_many(tasks.slow_square, [(i,) for i in range(jobs)])
        print(f"enqueued {len(sums) + len(squares)} jobs on queue {queue.name!r}", flush=True)
        for i, job in enumerate(sums):
            print(f"add({i}, {i}) = {await job.result(timeout=timeout)}", flush=True)
        for i, job in enumerate(squares):
            print(f"slow_square({i}) = {await job.result(timeout=timeout)}", flush=True)
    finally:
        await naq.client.close()


def main() -> None:
    """Parse the options and run the producer."""
    parser = argparse.ArgumentParser(description="Enqueue a few demo jobs and print their results.")
    parser.add_argument("--jobs", type=int, default=5, help="jobs of each kind (default: 5)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each result (default: 60)")
    options = parser.parse_args()
    asyncio.run(produce(options.jobs, options.timeout))


if __name__ == "__main__":
    main()
