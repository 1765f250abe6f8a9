"""The monitor, driven by Textual's Pilot against a real server: queues and schedules appear,
the schedule keys pause and resume for real, read-only hides them, an unreachable server is a
state on screen, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from textual.widgets import DataTable, Label

import naq.client
from harness.servers import NatsServer
from harness.waiting import async_wait_for
from naq.client import ScheduleStatus
from naq.tui import make_app
from naq.tui.app import MonitorApp
from naq.tui.screens import OverviewScreen, SchedulesScreen
from naq.tui.screens.overview import NO_QUEUES_HINT
from naq.tui.widgets import QueuesTable, SchedulesTable, StatusBar, WorkersTable
from naq.tui.widgets.status_bar import PERMISSION_HINT, UNREACHABLE_HINT

SIZE = (120, 40)


def _row(app: MonitorApp, table_type: type[DataTable[object]], key: str) -> list[str] | None:
    table = app.screen.query_one(table_type)
    keys = [row.key.value for row in table.ordered_rows]
    return [str(cell) for cell in table.get_row(key)] if key in keys else None


def _status(app: MonitorApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


async def _status_of(schedule_id: str, url: str) -> ScheduleStatus | None:
    records = {r.schedule_id: r for r in await naq.client.list_scheduled_jobs(nats_url=url)}
    return records[schedule_id].status if schedule_id in records else None


async def _status_is(schedule_id: str, url: str, wanted: ScheduleStatus) -> bool:
    return await _status_of(schedule_id, url) == wanted


async def test_queues_appear_with_their_figures(client_url: str) -> None:
    for n in range(3):
        await naq.client.enqueue("harness.jobs:add", n, 1, queue_name="emails", nats_url=client_url)
    app = make_app(client_url)
    async with app.run_test(size=SIZE):
        assert isinstance(app.screen, OverviewScreen)
        row = await async_wait_for(lambda: _row(app, QueuesTable, "emails"), timeout=10, what="emails row")
        assert row[:4] == ["emails", "3", "0", "0"]
        status = _status(app)
        assert client_url in status
        assert "connected" in status
        assert "updated never" not in status


async def test_pause_and_resume_keys_change_the_schedule(client_url: str) -> None:
    await naq.client.schedule("harness.jobs:noop", interval=3600, schedule_id="nightly", nats_url=client_url)
    app = make_app(client_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        assert isinstance(app.screen, SchedulesScreen)
        row = await async_wait_for(lambda: _row(app, SchedulesTable, "nightly"), timeout=10, what="schedule row")
        assert row[1] == "harness.jobs:noop"
        assert row[3] == "every 3600s"
        assert row[4] in ("in 59m 59s", "in 1h"), row[4]  # relative, as of the read
        assert row[-2] == "active"
        assert row[-3] == "unlimited"
        assert {"p", "r", "n", "c"} <= set(app.screen.active_bindings)

        await pilot.press("p")
        await async_wait_for(
            lambda: _status_is("nightly", client_url, ScheduleStatus.PAUSED), timeout=10, what="paused record"
        )
        await async_wait_for(
            lambda: (_row(app, SchedulesTable, "nightly") or ["", ""])[-2] == "paused", timeout=10, what="paused row"
        )

        await pilot.press("r")
        await async_wait_for(
            lambda: _status_is("nightly", client_url, ScheduleStatus.ACTIVE), timeout=10, what="resumed record"
        )

        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_read_only_hides_and_refuses_the_schedule_keys(client_url: str) -> None:
    await naq.client.schedule("harness.jobs:noop", interval=3600, schedule_id="nightly", nats_url=client_url)
    app = make_app(client_url, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await async_wait_for(lambda: _row(app, SchedulesTable, "nightly"), timeout=10, what="schedule row")
        assert not {"p", "r", "n", "c"} & set(app.screen.active_bindings)

        await pilot.press("p")
        await pilot.pause()
        # Nothing was started to change it, and the record says so.
        assert not [w for w in app.workers if w.group == "changes"]
        assert await _status_of("nightly", client_url) == ScheduleStatus.ACTIVE


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_server_is_shown_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAQ_NATS_CONNECT_TIMEOUT", "0.5")
    url = f"nats://127.0.0.1:{_closed_port()}"
    app = make_app(url)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_for(lambda: "lost" in _status(app), timeout=10, what="lost state")
        status = _status(app)
        assert url in status
        assert UNREACHABLE_HINT in status
        assert "Traceback" not in status
        assert app.is_running
        # The other screen says the same, and the app keeps retrying rather than exiting.
        await pilot.press("s")
        await async_wait_for(lambda: "lost" in _status(app), timeout=10, what="lost on schedules")
        assert app.return_code is None


async def test_a_server_without_naq_streams_is_a_clear_empty_state(client_url: str) -> None:
    app = make_app(client_url)
    async with app.run_test(size=SIZE):
        await async_wait_for(lambda: "| connected |" in _status(app), timeout=10, what="connected")
        title = str(app.screen.query_one("#queues-title", Label).render())
        assert title == NO_QUEUES_HINT
        assert app.screen.query_one(QueuesTable).row_count == 0
        assert app.screen.query_one(WorkersTable).row_count == 0


async def test_a_permission_refusal_is_shown_with_its_hint(tmp_path: Path) -> None:
    config = tmp_path / "auth.conf"
    config.write_text(
        "authorization { users = [\n"
        '  { user: watcher, password: secret, permissions: { publish: { deny: ["$JS.API.>"] } } }\n'
        "] }\n"
    )
    with NatsServer(tmp_path / "server", cluster_args=("-c", str(config))) as server:
        url = server.url.replace("nats://", "nats://watcher:secret@")
        app = make_app(url)
        try:
            async with app.run_test(size=SIZE):
                await async_wait_for(lambda: PERMISSION_HINT in _status(app), timeout=20, what="the refusal")
                status = _status(app)
                assert "refused this user: permissions violation" in status.lower()
                assert "Traceback" not in status
                assert app.is_running
        finally:
            await naq.client.close()
