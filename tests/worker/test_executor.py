"""Running a job's function (naq.worker._executor): a timed-out sync job's thread, after the fact."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest

from naq.protocol import JobTimeoutError
from naq.worker._executor import run_call
from naq.worker._threads import JobThreads


def _sleep_then_raise(seconds: float) -> None:
    time.sleep(seconds)
    raise RuntimeError("raised after its timeout")


async def test_a_sync_job_that_raises_after_its_timeout_frees_its_slot_and_logs_nothing() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    threads = JobThreads(1)
    ended = asyncio.Event()
    try:
        with pytest.raises(JobTimeoutError) as raised:
            await run_call(_sleep_then_raise, [0.2], {}, 0.05, threads, ended.set)
        assert raised.value.thread_running
        await asyncio.wait_for(ended.wait(), 5)  # the job's call ended: its slot is free
        del raised
        # An exception never retrieved is reported when its future is collected, which the idle
        # thread's last frame holds off until the thread ends.
        threads.shutdown()
        for thread in threads._threads:
            await asyncio.to_thread(thread.join, 5)
        gc.collect()
        await asyncio.sleep(0)
        assert reported == []
    finally:
        loop.set_exception_handler(None)
        threads.shutdown()
