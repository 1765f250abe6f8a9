"""The monitor's workers table shows a real in-process worker's heartbeat, and its queue."""

from __future__ import annotations

import os
import socket

from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.tui import make_app
from naq.tui.app import MonitorApp
from naq.tui.widgets import QueuesTable, WorkersTable


def _row(app: MonitorApp, table_type: type[QueuesTable | WorkersTable], key: str) -> list[str] | None:
    table = app.screen.query_one(table_type)
    keys = [row.key.value for row in table.ordered_rows]
    return [str(cell) for cell in table.get_row(key)] if key in keys else None


async def test_a_running_worker_appears_in_the_workers_table(nats_url: str, run_worker: WorkerRunner) -> None:
    async with run_worker(["mail"], concurrency=3) as worker:
        app = make_app(nats_url)
        async with app.run_test(size=(120, 40)):
            row = await async_wait_for(lambda: _row(app, WorkersTable, worker.worker_id), timeout=10, what="worker row")
            _, host, pid, status, queues, jobs, processed, failed, heartbeat = row
            assert (host, pid, queues) == (socket.gethostname(), str(os.getpid()), "mail")
            assert status in {"idle", "busy"}
            assert jobs == "0/3"
            assert (processed, failed) == ("0", "0")
            assert heartbeat.endswith("s ago")
            assert float(heartbeat.removesuffix("s ago")) < 5
            queue_row = await async_wait_for(lambda: _row(app, QueuesTable, "mail"), timeout=10, what="queue row")
            assert queue_row[7] == "1"  # one live worker serves it
