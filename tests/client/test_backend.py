"""Test mode is one backend: the in-process runner offers every call the NATS backend does."""

from __future__ import annotations

import inspect

import pytest

from naq.client._backend import Backend, NatsBackend, backend_for
from naq.client.testing import InlineRunner, inline_jobs
from naq.protocol import Settings

BACKEND_METHODS = sorted(
    name for name, member in vars(Backend).items() if not name.startswith("_") and inspect.isfunction(member)
)


def test_the_backend_interface_is_not_empty() -> None:
    assert {"submit", "result_record", "job_status", "cancel", "add_schedule"} <= set(BACKEND_METHODS)


@pytest.mark.parametrize("implementation", [NatsBackend, InlineRunner])
@pytest.mark.parametrize("method", BACKEND_METHODS)
def test_each_backend_has_every_method_with_the_same_parameters(implementation: type, method: str) -> None:
    ours = getattr(implementation, method, None)
    assert ours is not None, f"{implementation.__name__} has no {method}"
    assert inspect.iscoroutinefunction(ours), f"{implementation.__name__}.{method} is not async"
    expected = list(inspect.signature(getattr(Backend, method)).parameters)
    assert list(inspect.signature(ours).parameters) == expected


def test_the_backend_is_the_runner_inside_a_block_and_nats_outside() -> None:
    settings = Settings.from_env(nats_url="nats://127.0.0.1:1")
    assert isinstance(backend_for(settings), NatsBackend)
    with inline_jobs() as runner:
        assert backend_for(settings) is runner
        with inline_jobs() as inner:
            assert backend_for(settings) is inner
        assert backend_for(settings) is runner
    assert backend_for(settings) is backend_for(settings)  # one per settings, not one per call
