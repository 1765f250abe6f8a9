"""Job lookup (``/``) against a real server: a job's status and details, an unknown id's
not-found message, a malformed id's message, never a traceback; escape cancels the dialog."""

from __future__ import annotations

from textual.pilot import Pilot

import naq.client
from harness.waiting import async_wait_for
from naq.tui import make_app
from naq.tui.app import MonitorApp
from naq.tui.dialogs import JobIdDialog
from naq.tui.screens import JobScreen, OverviewScreen
from naq.tui.widgets import DetailText

SIZE = (120, 40)


def _detail(app: MonitorApp) -> str:
    return app.screen.query_one(DetailText).text


async def _look_up(app: MonitorApp, pilot: Pilot[None], job_id: str) -> str:
    await pilot.press("slash")
    assert isinstance(app.screen, JobIdDialog)
    await pilot.press(*job_id, "enter")
    assert isinstance(app.screen, JobScreen)
    assert app.screen.job_id == job_id
    return await async_wait_for(
        lambda: _detail(app) if _detail(app) != "reading..." else None, timeout=10, what="job details"
    )


async def test_a_waiting_job_is_shown_with_its_arguments(client_url: str) -> None:
    job = await naq.client.enqueue("harness.jobs:add", 2, 3, queue_name="lookups", nats_url=client_url)
    app = make_app(client_url)
    async with app.run_test(size=SIZE) as pilot:
        text = await _look_up(app, pilot, job.job_id)
        lines = text.splitlines()
        assert lines[0].split() == ["job:", job.job_id]
        assert lines[1].split() == ["status:", "queued"]
        assert "queue:     lookups" in text
        assert "function:  harness.jobs:add" in text
        assert "args=[2, 3] kwargs={}" in text
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_an_unknown_id_is_no_such_job(client_url: str) -> None:
    app = make_app(client_url)
    async with app.run_test(size=SIZE) as pilot:
        text = await _look_up(app, pilot, "nothing-here-1")
        assert text.startswith("no such job: 'nothing-here-1'")
        assert "Traceback" not in text
        assert app.is_running


async def test_a_malformed_id_is_a_clear_message(client_url: str) -> None:
    app = make_app(client_url)
    async with app.run_test(size=SIZE) as pilot:
        text = await _look_up(app, pilot, "not/an id")
        assert text.startswith("not a job id: invalid job id 'not/an id'")
        assert "Traceback" not in text


async def test_escape_cancels_the_lookup(client_url: str) -> None:
    app = make_app(client_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        assert isinstance(app.screen, JobIdDialog)
        await pilot.press("a", "b", "escape")
        assert isinstance(app.screen, OverviewScreen)
        assert not [w for w in app.workers if w.group == "job-lookup"]
