"""A FastAPI application that hands work to naq workers.

``POST /jobs`` enqueues a job and answers 202 with its id at once; ``GET /jobs/{job_id}`` says
where the job is (queued, running, retrying, completed, failed, ...) and, once it ended, its
result or error. The app uses naq's async API on FastAPI's event loop; no thread is blocked
waiting for a job.

Run it (with a worker in this folder: ``naq-worker default --allow-module tasks``):

    pip install fastapi uvicorn
    uvicorn app:app
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import naq.client
from fastapi import FastAPI, HTTPException
from naq.client import JobNotFoundError, JobStatus
from pydantic import BaseModel

# The app names the job function by reference ("module:function") instead of importing it: the
# web app does not need the workers' code, or its dependencies, installed.
COUNT_WORDS = "tasks:count_words"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Connect at startup, so that an unreachable NATS stops the app from starting (with
    # NaqConnectionError saying why) rather than failing its first request; close at shutdown.
    await naq.client.connect()
    yield
    await naq.client.close()


app = FastAPI(title="naq web-app example", lifespan=lifespan)


class CountRequest(BaseModel):
    """The body of ``POST /jobs``."""

    text: str


@app.post("/jobs", status_code=202)
async def create_job(request: CountRequest) -> dict[str, str]:
    """Enqueue a word count; answer with the job's id and where to ask about it."""
    # Retried twice, a second apart, if the worker fails it (a ValueError is not worth retrying).
    job = await naq.client.enqueue(COUNT_WORDS, request.text, max_retries=2, retry_delay=1, ignore_on=ValueError)
    return {"job_id": job.job_id, "status_url": f"/jobs/{job.job_id}"}


@app.get("/jobs/{job_id}")
async def get_job(job_id: str) -> dict[str, Any]:
    """The job's status, with its result once it completed or its error once it failed."""
    try:
        info = await naq.client.job_info(job_id)  # one read, no JetStream consumer per request
    except (JobNotFoundError, ValueError):  # ValueError: not a well-formed job id
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
    body: dict[str, Any] = {"job_id": job_id, "status": info.status.value}
    if info.status is JobStatus.COMPLETED:
        body["result"] = await naq.client.fetch_job_result(job_id)
    elif info.error is not None:  # failed or cancelled
        body["error"] = f"{info.error.type}: {info.error.message}"
    return body
