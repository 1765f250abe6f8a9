"""``naq list-scheduled`` and ``naq job-control``: listing schedules and changing them from a terminal.

Each command runs in-process through typer's ``CliRunner`` against the test's NATS server. The
commands call ``asyncio.run`` themselves, so they are invoked from a worker thread while the test's
own loop reads the records straight from ``naq_scheduled_jobs`` to check what they did.
Exit codes (``_cli_common``): 1 nothing found, 2 bad usage, 4 a bad argument.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import naq.client
from harness.schedules import published_runs, schedule_record
from naq.client import Queue, ScheduleRecord, ScheduleStatus, Settings, cli

FUNC = "harness.jobs:add"
"""The job function of the schedules (never run: no scheduler here)."""

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 4


@pytest.fixture
async def schedules(test_settings: Settings) -> AsyncIterator[Settings]:
    """Three records: ``once`` (one-off, in 30 s), ``every-minute`` (interval 60 s) on the default queue,
    and ``yearly`` (cron, paused) on ``emails``; yields the settings."""
    default, emails = Queue(settings=test_settings), Queue("emails", settings=test_settings)
    await default.enqueue_in(30, FUNC, 1, 2, job_id="once")
    await default.schedule(FUNC, 1, 2, interval=60, schedule_id="every-minute")
    await emails.schedule(FUNC, 3, 4, cron="0 0 1 1 *", schedule_id="yearly")
    await emails.pause_scheduled_job("yearly")
    yield test_settings
    await naq.client.close()


async def naq_cli(settings: Settings, *args: str) -> Result:
    """Run ``naq ARGS --nats-url URL`` in a worker thread (the command runs its own event loop)."""
    command = [*args, "--nats-url", ",".join(settings.nats_url)]
    return await asyncio.to_thread(CliRunner().invoke, cli.app, command)


async def must_exist(js: Any, schedule_id: str) -> ScheduleRecord:
    """The stored record of ``schedule_id``; fails the test if there is none."""
    record = await schedule_record(js, schedule_id)
    assert record is not None, f"no record {schedule_id!r}"
    return record


def listed_ids(result: Result) -> list[str]:
    """The schedule ids of a plain ``list-scheduled`` output, in its order."""
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in ``text`` (``--detailed`` prints one indented object per schedule)."""
    decoder, found, position = json.JSONDecoder(), [], 0
    for _ in range(len(text) + 1):  # bounded: each round consumes at least one character
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return found
        value, position = decoder.raw_decode(text, position)
        found.append(value)
    raise AssertionError("unreachable: text not consumed")


# --- list-scheduled -------------------------------------------------------------------------------


async def test_list_scheduled_shows_every_schedule_soonest_first(schedules: Settings) -> None:
    result = await naq_cli(schedules, "list-scheduled")
    assert result.exit_code == 0, result.output
    assert listed_ids(result) == ["once", "every-minute", "yearly"]
    once, every_minute, yearly = result.stdout.splitlines()
    assert once.split()[1:4] == ["default", "active", "once"]
    assert "every 60 s" in every_minute
    assert "runs=0" in every_minute
    assert FUNC in every_minute
    assert yearly.split()[1:3] == ["emails", "paused"]
    assert "cron '0 0 1 1 *'" in yearly
    assert f"next={datetime.now(UTC).year + 1}-01-01T00:00:00Z" in yearly


async def test_list_scheduled_filters_by_status_and_queue(schedules: Settings) -> None:
    assert listed_ids(await naq_cli(schedules, "list-scheduled", "--status", "paused")) == ["yearly"]
    assert listed_ids(await naq_cli(schedules, "list-scheduled", "--status", "active")) == ["once", "every-minute"]
    assert listed_ids(await naq_cli(schedules, "list-scheduled", "--queue", "emails")) == ["yearly"]
    both = await naq_cli(schedules, "list-scheduled", "--queue", "default", "--status", "paused")
    assert (both.exit_code, listed_ids(both)) == (0, [])
    assert "no scheduled jobs" in both.stderr


@pytest.mark.parametrize("option", [["--status", "bogus"], ["--queue", "no.dots"]])
async def test_list_scheduled_with_a_bad_filter_exits_4(schedules: Settings, option: list[str]) -> None:
    result = await naq_cli(schedules, "list-scheduled", *option)
    assert result.exit_code == EXIT_CONFIG, result.output


async def test_list_scheduled_by_job_id(schedules: Settings) -> None:
    found = await naq_cli(schedules, "list-scheduled", "--job-id", "every-minute")
    assert (found.exit_code, listed_ids(found)) == (0, ["every-minute"])
    missing = await naq_cli(schedules, "list-scheduled", "--job-id", "no-such-schedule")
    assert missing.exit_code == EXIT_FAILED
    assert missing.stdout == ""
    assert "no scheduled jobs" in missing.stderr


async def test_list_scheduled_detailed_prints_every_field_as_json(schedules: Settings, js: Any) -> None:
    one = await naq_cli(schedules, "list-scheduled", "--job-id", "every-minute", "--detailed")
    assert one.exit_code == 0, one.output
    detail = json.loads(one.stdout)
    assert detail == (await must_exist(js, "every-minute")).to_dict()
    assert (detail["schedule_id"], detail["interval"], detail["status"]) == ("every-minute", 60.0, "active")
    assert detail["job"]["function"] == FUNC
    assert detail["job"]["payload"] == {"args": [1, 2], "kwargs": {}}
    every = await naq_cli(schedules, "list-scheduled", "--detailed")
    assert [d["schedule_id"] for d in json_objects(every.stdout)] == ["once", "every-minute", "yearly"]


async def test_list_scheduled_with_nothing_scheduled(test_settings: Settings) -> None:
    result = await naq_cli(test_settings, "list-scheduled")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no scheduled jobs" in result.stderr


# --- job-control pause / resume / cancel ---------------------------------------------------------


async def test_job_control_pause_and_resume(schedules: Settings, js: Any) -> None:
    paused = await naq_cli(schedules, "job-control", "every-minute", "pause")
    assert paused.exit_code == 0, paused.output
    assert paused.stdout.strip() == "paused every-minute"
    assert (await must_exist(js, "every-minute")).status == ScheduleStatus.PAUSED
    resumed = await naq_cli(schedules, "job-control", "yearly", "resume")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.strip() == "resumed yearly"
    assert (await must_exist(js, "yearly")).status == ScheduleStatus.ACTIVE


async def test_job_control_cancel_deletes_the_record(schedules: Settings, js: Any) -> None:
    result = await naq_cli(schedules, "job-control", "once", "cancel")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "cancelled once"
    assert await schedule_record(js, "once") is None
    again = await naq_cli(schedules, "job-control", "once", "cancel")
    assert again.exit_code == EXIT_FAILED


@pytest.mark.parametrize("action", ["pause", "resume", "cancel", "reschedule", "run-now"])
async def test_job_control_of_an_unknown_id_exits_1(schedules: Settings, action: str) -> None:
    options = ["--interval", "30"] if action == "reschedule" else []
    result = await naq_cli(schedules, "job-control", "no-such-schedule", action, *options)
    assert result.exit_code == EXIT_FAILED, result.output
    assert "no-such-schedule" in result.stderr


async def test_job_control_with_an_invalid_id_or_action(schedules: Settings) -> None:
    assert (await naq_cli(schedules, "job-control", "has:colon", "pause")).exit_code == EXIT_CONFIG
    assert (await naq_cli(schedules, "job-control", "every-minute", "explode")).exit_code == EXIT_USAGE


# --- job-control run-now ---------------------------------------------------------------------------


async def test_run_now_prints_the_extra_run_s_job_id_and_leaves_the_schedule(
    schedules: Settings, js: Any, nc: Any
) -> None:
    before = await must_exist(js, "every-minute")
    result = await naq_cli(schedules, "job-control", "every-minute", "run-now")
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    assert run_id.startswith("every-minute-n")
    assert await must_exist(js, "every-minute") == before
    retried = [await naq_cli(schedules, "job-control", "yearly", "run-now", "--run-id", "r-1") for _ in range(2)]
    assert [r.stdout.strip() for r in retried] == ["r-1", "r-1"]
    assert await published_runs(nc) == {run_id: 1, "r-1": 1}


async def test_run_now_with_a_negative_wait_is_bad_usage(schedules: Settings, nc: Any) -> None:
    await Queue(settings=schedules).purge()  # the job stream exists, empty
    result = await naq_cli(schedules, "job-control", "every-minute", "run-now", "--wait", "-1")
    assert result.exit_code == EXIT_USAGE, result.output
    assert await published_runs(nc) == {}


# --- job-control reschedule -----------------------------------------------------------------------


async def test_reschedule_with_a_new_interval(schedules: Settings, js: Any) -> None:
    result = await naq_cli(schedules, "job-control", "yearly", "reschedule", "--interval", "30")
    assert result.exit_code == 0, result.output
    record = await must_exist(js, "yearly")
    assert (record.cron, record.interval, record.status) == (None, 30.0, ScheduleStatus.PAUSED)
    assert result.stdout.startswith("rescheduled yearly: every 30 s, next run ")


async def test_reschedule_with_a_new_cron_and_repeat(schedules: Settings, js: Any) -> None:
    result = await naq_cli(
        schedules, "job-control", "every-minute", "reschedule", "--cron", "*/5 * * * *", "--repeat", "3"
    )
    assert result.exit_code == 0, result.output
    record = await must_exist(js, "every-minute")
    assert (record.cron, record.interval, record.repeat) == ("*/5 * * * *", None, 3)
    assert "cron '*/5 * * * *'" in result.stdout


@pytest.mark.parametrize("next_run", ["2031-01-02T03:04:05", "2031-01-02T03:04:05Z", "2031-01-02T04:04:05+01:00"])
async def test_reschedule_with_a_next_run(schedules: Settings, js: Any, next_run: str) -> None:
    result = await naq_cli(schedules, "job-control", "every-minute", "reschedule", "--next-run", next_run)
    assert result.exit_code == 0, result.output
    record = await must_exist(js, "every-minute")
    assert record.next_run_at == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    assert record.interval == 60.0
    assert "next run 2031-01-02T03:04:05Z" in result.stdout


async def test_reschedule_of_a_one_off_run_moves_it(schedules: Settings, js: Any) -> None:
    moved = await naq_cli(schedules, "job-control", "once", "reschedule", "--next-run", "2031-01-01T00:00:00Z")
    assert moved.exit_code == 0, moved.output
    assert (await must_exist(js, "once")).next_run_at == datetime(2031, 1, 1, tzinfo=UTC).timestamp()
    refused = await naq_cli(schedules, "job-control", "once", "reschedule", "--interval", "30")
    assert refused.exit_code == EXIT_CONFIG
    assert "one-off" in refused.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["every-minute", "reschedule"],  # nothing to change
        ["every-minute", "reschedule", "--cron", "not a cron"],
        ["every-minute", "reschedule", "--cron", "61 * * * *"],
        ["every-minute", "reschedule", "--interval", "0"],
        ["every-minute", "reschedule", "--interval", "-5"],
        ["every-minute", "reschedule", "--repeat", "0"],
        ["every-minute", "reschedule", "--next-run", "next tuesday"],
        ["every-minute", "reschedule", "--cron", "0 * * * *", "--interval", "30"],
        ["every-minute", "pause", "--interval", "30"],  # options only go with reschedule
        ["every-minute", "cancel", "--cron", "0 * * * *"],
        ["every-minute", "resume", "--next-run", "2031-01-01T00:00:00"],
        ["every-minute", "run-now", "--interval", "30"],
        ["every-minute", "pause", "--run-id", "r-1"],  # --run-id and --wait only go with run-now
        ["every-minute", "cancel", "--wait", "5"],
        ["every-minute", "run-now", "--run-id", "has.dot"],
        ["once", "run-now", "--run-id", "r-1"],  # a one-off runs under its own id
    ],
)
async def test_bad_job_control_arguments_exit_4_and_change_nothing(
    schedules: Settings, js: Any, nc: Any, arguments: list[str]
) -> None:
    await Queue(settings=schedules).purge()  # the job stream exists, empty
    before = await must_exist(js, "every-minute")
    result = await naq_cli(schedules, "job-control", *arguments)
    assert result.exit_code == EXIT_CONFIG, result.output
    assert result.stderr.startswith("naq: ")
    assert await must_exist(js, "every-minute") == before
    assert await published_runs(nc) == {}


def test_job_control_help_describes_run_now() -> None:
    result = CliRunner().invoke(cli.app, ["job-control", "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "run-now" in result.stdout
    assert "does not count" in result.stdout
    assert "--run-id" in result.stdout
    assert "--wait" in result.stdout
