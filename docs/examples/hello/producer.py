"""Enqueue two jobs, wait for their results and print them.

Run a worker first, in this folder: ``naq-worker default --allow-module tasks``. The NATS server
is ``nats://localhost:4222`` unless ``NAQ_NATS_URL`` names another.
"""

import asyncio

from naq.client import Queue, close

from tasks import add, greet


async def main() -> None:
    queue = Queue("default")

    # enqueue() returns as soon as JetStream has stored the job; the worker runs it.
    greeting = await queue.enqueue(greet, "naq")
    total = await queue.enqueue(add, 2, 3)
    print(f"enqueued {greeting.job_id} and {total.job_id}")

    # result() waits for the outcome (no polling: it watches the job's result key).
    print(await greeting.result(timeout=30))
    print(f"2 + 3 = {await total.result(timeout=30)}")

    await close()  # close the connection naq opened on first use


if __name__ == "__main__":
    asyncio.run(main())
