"""nats-py's errors surface from naq's public API as ``NaqError`` subclasses (issue 10).

A stream deleted under a running client, a server stopped under an open connection and a
connection closed during a call: each public call raises ``JetStreamError`` or
``NaqConnectionError``, with the nats-py error chained as ``__cause__`` where there was one. The
translation itself is checked for every kind of nats-py error without a server.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import pytest
import typer
from typer.testing import CliRunner

import naq.client
from harness.servers import NatsServer, running_server
from harness.waiting import async_wait_for
from naq.client import JetStreamError, NaqConnectionError, NaqError, Queue, cli
from naq.client._cli_common import EXIT_CONNECTION, EXIT_FAILED, run_command
from naq.client._connection import get_connection
from naq.client._errors import naq_error
from naq.protocol import Settings, names

ADD = "harness.jobs:add"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found"), JetStreamError),
        (nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence"), JetStreamError),
        (nats.js.errors.ServiceUnavailableError(code=503, description="unavailable"), JetStreamError),
        (nats.js.errors.BucketNotFoundError(), JetStreamError),
        (nats.js.errors.NoStreamResponseError(), JetStreamError),
        (nats.js.errors.NoKeysError(), JetStreamError),
        (nats.errors.NoRespondersError(), JetStreamError),
        (nats.errors.ConnectionClosedError(), NaqConnectionError),
        (nats.errors.ConnectionDrainingError(), NaqConnectionError),
        (nats.errors.ConnectionReconnectingError(), NaqConnectionError),
        (nats.errors.NoServersError(), NaqConnectionError),
        (nats.errors.TimeoutError(), NaqConnectionError),
        (nats.errors.FlushTimeoutError(), NaqConnectionError),
        (nats.js.errors.FetchTimeoutError(), NaqConnectionError),
        (nats.errors.StaleConnectionError(), NaqConnectionError),
        (nats.errors.UnexpectedEOF(), NaqConnectionError),
        (nats.errors.OutboundBufferLimitError(), NaqConnectionError),
        (nats.errors.AuthorizationError(), NaqConnectionError),
        (nats.errors.MaxPayloadError(), NaqConnectionError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_every_kind_of_nats_error_has_its_naq_error(error: nats.errors.Error, expected: type[NaqError]) -> None:
    translated = naq_error(error)
    assert type(translated) is expected
    assert str(translated).strip()


def test_a_jetstream_api_error_keeps_its_error_code() -> None:
    translated = naq_error(nats.js.errors.NotFoundError(code=404, err_code=10059, description="stream not found"))
    assert isinstance(translated, JetStreamError)
    assert translated.err_code == 10059
    assert "stream not found" in str(translated)


# --- a stream deleted under a running client ------------------------------------------------------


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue on the session server; naq's connections closed after."""
    yield Queue(settings=test_settings)
    await naq.client.close()


async def test_purging_a_queue_whose_stream_was_deleted_is_a_jetstream_error(queue: Queue, js: Any) -> None:
    await queue.enqueue(ADD, 1, 2)  # the stream is created and known to this connection
    await js.delete_stream(names.JOBS_STREAM)
    with pytest.raises(JetStreamError) as caught:
        await queue.purge()
    assert caught.value.err_code == 10059
    assert "stream not found" in str(caught.value)


async def test_reading_a_job_whose_buckets_were_deleted_is_a_jetstream_error_with_the_cause(
    queue: Queue, js: Any
) -> None:
    job = await queue.enqueue(ADD, 1, 2)
    await job.status()  # the buckets are created and known to this connection
    for bucket in (names.RESULTS_BUCKET, names.JOB_STATUS_BUCKET):
        await js.delete_key_value(bucket)
    for call in (job.status, job.cancel):
        with pytest.raises(JetStreamError) as caught:
            await call()
        assert isinstance(caught.value.__cause__, nats.errors.Error), caught.value.__cause__


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (nats.js.errors.NotFoundError(code=404, description="stream not found"), EXIT_FAILED, "naq: JetStream refused"),
        (nats.errors.NoRespondersError(), EXIT_FAILED, "naq: no stream answered"),
        (nats.errors.ConnectionClosedError(), EXIT_CONNECTION, "naq: the NATS connection is closed"),
        (nats.errors.TimeoutError(), EXIT_CONNECTION, "naq: NATS did not answer in time"),
    ],
)
def test_a_command_reports_a_nats_error_as_naq_s_with_its_exit_code(
    error: nats.errors.Error, code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def command() -> None:
        raise error

    with pytest.raises(typer.Exit) as caught:
        run_command(command())
    assert caught.value.exit_code == code
    assert capsys.readouterr().err.startswith(message)


# --- a server stopped, a connection closed ------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server for this test alone, so it can be stopped."""
    with running_server(tmp_path / "nats", name="naq-errors") as server:
        yield server


@pytest.fixture
async def own_settings(own_server: NatsServer) -> AsyncIterator[Settings]:
    """Settings for :func:`own_server`; naq's connections (of this loop and the sync loop) closed after."""
    yield Settings.from_env({}, nats_url=own_server.url, connect_timeout=2.0)
    await naq.client.close()
    await asyncio.to_thread(naq.client.disconnect_sync)


async def test_calls_after_the_server_stopped_raise_naq_connection_error_with_the_cause(
    own_server: NatsServer, own_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_server.url
    monkeypatch.setenv("NAQ_NATS_CONNECT_TIMEOUT", "1")  # the settings of the module functions
    queue = Queue(settings=own_settings)
    handle = await queue.schedule(ADD, 1, 2, interval=60, schedule_id="every-minute")
    await naq.client.list_workers(nats_url=url)
    await asyncio.to_thread(naq.client.list_workers_sync, url)  # the sync loop's connection, opened
    own_server.stop()

    async def caught(call: Any) -> BaseException:
        try:
            await call
        except BaseException as exc:  # what escapes is the point
            return exc
        raise AssertionError("the call did not fail")

    errors = await asyncio.gather(
        caught(naq.client.list_workers(nats_url=url)),
        caught(handle.info()),
        caught(asyncio.to_thread(naq.client.list_workers_sync, url)),
    )
    for error in errors:
        assert isinstance(error, NaqConnectionError), repr(error)
        assert isinstance(error.__cause__, nats.errors.TimeoutError), repr(error.__cause__)
    cli_run = await asyncio.to_thread(CliRunner().invoke, cli.app, ["list-workers", "--nats-url", url])
    assert cli_run.exit_code == EXIT_CONNECTION, cli_run.output


async def test_a_connection_closed_during_an_enqueue_is_naq_connection_error(
    own_server: NatsServer, own_settings: Settings
) -> None:
    queue = Queue(settings=own_settings)
    await queue.enqueue(ADD, 1, 2)
    connection = await get_connection(own_settings)
    own_server.stop()  # the next publish waits for an acknowledgement that cannot come
    enqueue = asyncio.create_task(queue.enqueue(ADD, 3, 4))

    def waiting_for_its_ack() -> bool:
        return bool(connection.state["acks"]._waiting)

    await async_wait_for(waiting_for_its_ack, timeout=5, what="the publish in flight")
    await naq.client.close()
    with pytest.raises(NaqConnectionError) as caught:
        await asyncio.wait_for(enqueue, 10)
    assert isinstance(caught.value.__cause__, nats.errors.ConnectionClosedError), repr(caught.value.__cause__)


# --- the boundary covers the whole public API ---------------------------------------------------


def _public_coroutines() -> dict[str, Any]:
    found = {name: getattr(naq.client, name) for name in naq.client.__all__}
    for cls in (naq.client.Queue, naq.client.Job, naq.client.ScheduledJob):
        for name in dir(cls):
            if not name.startswith("_"):
                found[f"{cls.__name__}.{name}"] = getattr(cls, name)
    return {name: value for name, value in found.items() if inspect.iscoroutinefunction(value)}


def test_every_public_coroutine_of_naq_client_translates_nats_errors() -> None:
    coroutines = _public_coroutines()
    assert {"enqueue", "Queue.enqueue", "Job.result", "ScheduledJob.run_now", "list_workers"} <= set(coroutines)
    unguarded = [name for name, func in coroutines.items() if func.__code__.co_qualname != "public.<locals>.call"]
    assert unguarded == []
