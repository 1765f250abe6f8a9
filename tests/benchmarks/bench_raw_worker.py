"""The raw nats-py baseline worker: pull fetch in batches -> KV put of a small result -> ack.

The minimal pipeline naq's worker is compared with, run as its own process like a naq worker:
fetch up to ``--batch`` messages from a durable pull consumer, decode each job (JSON), publish
its result to the KV bucket's key subject (``$KV.<bucket>.<id>``, what ``kv.put`` does) with
``publish_async`` so the writes are pipelined, wait for their acknowledgements, then ack every
message. No events, no heartbeats, no retries, no thread pool: the job is "run" inline.

Usage (started by ``run.py``; not a test module):
    python bench_raw_worker.py URL STREAM CONSUMER BUCKET [--batch 256] [--max-seconds 900]

Prints ``ready`` on stdout once bound to the consumer. Stops on SIGTERM/SIGINT, when its parent
process goes away, or after ``--max-seconds`` (a bound so it can never outlive the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time

import nats
import nats.errors


async def serve(args: argparse.Namespace) -> None:
    nc = await nats.connect(args.url, connect_timeout=5, max_reconnect_attempts=0, name="raw-bench-worker")
    js = nc.jetstream(publish_async_max_pending=4000)
    sub = await js.pull_subscribe_bind(args.consumer, stream=args.stream)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    deadline = time.monotonic() + args.max_seconds
    prefix = f"$KV.{args.bucket}."
    print("ready", flush=True)
    try:
        while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
            try:
                messages = await sub.fetch(args.batch, timeout=args.fetch_wait)
            except nats.errors.TimeoutError:
                continue
            acks = []
            for message in messages:
                job = json.loads(message.data)
                result = json.dumps(
                    {"id": job["id"], "status": "completed", "value": None, "finished_at": time.time()}
                ).encode()
                acks.append(await js.publish_async(prefix + job["id"], result))
            await asyncio.gather(*acks)  # results stored before the messages are acked
            for message in messages:
                await message.ack()
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("stream")
    parser.add_argument("consumer")
    parser.add_argument("bucket")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--fetch-wait", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
