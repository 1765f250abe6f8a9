"""Options of the wrong type are a ``ConfigurationError`` naming the option, never a bare TypeError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from harness.jetstream_api import stream_info
from naq.client import ConfigurationError, Queue, close
from naq.protocol import Settings, names

ADD = "harness.jobs:add"

BAD_OPTIONS = [
    ("retry_delay", None),
    ("retry_delay", "5"),
    ("retry_delay", {"a": 1}),
    ("retry_delay", [1, None]),
    ("retry_delay", []),
    ("max_retries", None),
    ("max_retries", "3"),
    ("timeout", "5"),
    ("timeout", float("nan")),
    ("result_ttl", "60"),
    ("result_ttl", -1),
    ("retry_max_delay", "1"),
    ("retry_on", 5),
    ("ignore_on", 5.0),
    ("depends_on", 5),
    ("depends_on", [5]),
    ("depends_on", b"job"),
    ("retry_jitter", None),
    ("retry_jitter", "yes"),
    ("retry_strategy", None),
    ("dependency_timeout", "5"),
    ("job_id", 5),
]


@pytest.fixture
async def queue(test_settings: Settings) -> AsyncIterator[Queue]:
    """The default queue on the test server; the loop's naq connections closed after."""
    yield Queue(settings=test_settings)
    await close()


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS, ids=[f"{o}={v!r}" for o, v in BAD_OPTIONS])
async def test_a_bad_option_is_a_configuration_error_naming_it(queue: Queue, nc: Any, option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await queue.enqueue(ADD, 1, 2, **{option: value})
    assert option.replace("_", " ") in str(caught.value).replace("_", " ")
    with pytest.raises(ConfigurationError):
        await queue.enqueue_many(ADD, [(1, 2), (3, 4)], **{option: value})
    with pytest.raises(RuntimeError, match="stream not found"):  # nothing was published
        await stream_info(nc, names.JOBS_STREAM)


async def test_none_for_the_exception_filters_means_none(queue: Queue, nc: Any) -> None:
    job = await queue.enqueue(ADD, 1, 2, retry_on=None, ignore_on=None)
    assert (await stream_info(nc, names.JOBS_STREAM))["state"]["messages"] == 1
    assert job.job_id
