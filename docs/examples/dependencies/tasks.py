"""Job functions for the dependencies example: a small sales pipeline.

A dependent job does not receive its dependencies' results as arguments: it is given their job
ids and reads their results itself, with ``naq.client.fetch_job_result``. By the time it runs,
every job it depends on has completed, so the results are there.

naq.client calls made inside a job read their settings from the environment like any other code:
give the worker its server with ``NAQ_NATS_URL`` (not only ``--nats-url``), or pass ``nats_url=``.
"""

import asyncio

import naq.client

SALES = {"eu": [120, 80, 45], "us": [200, 150], "asia": [90, 60, 30, 20]}


async def extract(region: str) -> list[int]:
    """Load one region's sales figures (here from a dict; in real life from a database or an API)."""
    await asyncio.sleep(0.5)  # a slow query: its dependents must wait for it
    if region not in SALES:
        raise LookupError(f"no sales data for region {region!r}")
    return SALES[region]


async def clean(extract_job_id: str) -> list[int]:
    """Drop the small orders from what an ``extract`` job returned."""
    figures = await naq.client.fetch_job_result(extract_job_id)
    return [amount for amount in figures if amount >= 50]


async def total(*job_ids: str) -> int:
    """Add up the figures of several jobs (fan-in: it runs once all of them completed)."""
    return sum([sum(await naq.client.fetch_job_result(job_id)) for job_id in job_ids])
