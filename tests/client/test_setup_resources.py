"""``naq setup`` (``setup_resources``): every stream and bucket created, drift updated, an update the
server refuses reported (never done by deleting), and the command's output and exit code.

The least-privilege side (components that may not create streams) is tests/e2e/test_least_privilege.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from typer.testing import CliRunner

import naq.client
from naq.client import cli
from naq.client._connection import Connection, get_connection
from naq.client._connection_events import refused_subject
from naq.client._resources import setup_resources
from naq.protocol import Settings, names, resources

STREAMS = 9


@pytest.fixture
async def connection(test_settings: Settings) -> AsyncIterator[Connection]:
    """naq's connection to the clean session server, closed after the test."""
    yield await get_connection(test_settings)
    await naq.client.close()


async def _stream_config(nc: Any, stream: str) -> dict[str, Any]:
    return (await _api(nc, f"STREAM.INFO.{stream}"))["config"]


async def _api(nc: Any, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = json.loads((await nc.request(f"$JS.API.{subject}", json.dumps(body or {}).encode(), timeout=5)).data)
    assert "error" not in reply, reply
    return reply


async def test_setup_creates_every_stream_then_finds_them_unchanged(connection: Connection, nc: Any) -> None:
    first = await setup_resources(connection)
    assert [(o.stream, o.action) for o in first] == [
        (spec.name, "created") for spec in resources.all_streams(connection.settings)
    ]
    assert len(first) == STREAMS
    again = await setup_resources(connection)
    assert {o.action for o in again} == {"unchanged"}


async def test_setup_updates_a_stream_that_drifted_and_reports_what_it_cannot_update(
    connection: Connection, nc: Any
) -> None:
    await setup_resources(connection)
    events = await _stream_config(nc, names.EVENTS_STREAM)
    events["max_age"] = 7200 * 1_000_000_000
    await _api(nc, f"STREAM.UPDATE.{names.EVENTS_STREAM}", events)
    # A change the server cannot make in place: naq_failed_jobs recreated with memory storage.
    await _api(nc, f"STREAM.DELETE.{names.FAILED_JOBS_STREAM}")
    failed = resources.failed_jobs_stream(connection.settings).api_config()
    failed["storage"] = "memory"
    await _api(nc, f"STREAM.CREATE.{names.FAILED_JOBS_STREAM}", failed)

    outcomes = {o.stream: o for o in await setup_resources(connection)}
    assert outcomes[names.EVENTS_STREAM].action == "updated"
    assert "max_age" in outcomes[names.EVENTS_STREAM].detail
    assert (await _stream_config(nc, names.EVENTS_STREAM))["max_age"] == resources.events_stream(
        connection.settings
    ).api_config()["max_age"]
    assert outcomes[names.FAILED_JOBS_STREAM].action == "failed"
    assert "storage" in outcomes[names.FAILED_JOBS_STREAM].detail
    assert (await _stream_config(nc, names.FAILED_JOBS_STREAM))["storage"] == "memory", "left as it was"


def test_the_command_prints_each_stream_and_exits_1_when_one_failed(test_settings: Settings, nats_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli.app, ["setup", "--nats-url", nats_url])
    assert result.exit_code == 0, result.output
    assert result.output.count(": created") == STREAMS
    assert f"{names.JOBS_STREAM}: created" in result.output
    again = runner.invoke(cli.app, ["setup", "--nats-url", nats_url])
    assert again.exit_code == 0
    assert again.output.count(": unchanged") == STREAMS


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (
            'permissions violation for publish to "$js.api.stream.create.naq_jobs"',
            ("publish", "$js.api.stream.create.naq_jobs"),
        ),
        ('Permissions Violation for Subscription to "_INBOX.abc.*"', ("subscribe", "_INBOX.abc.*")),
        ("authorization violation", None),
    ],
)
def test_a_permissions_violation_names_what_was_refused(words: str, expected: tuple[str, str] | None) -> None:
    assert refused_subject(words) == expected
