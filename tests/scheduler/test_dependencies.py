"""naq-scheduler's declared dependencies are enough for cron schedules and leader election."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["nats", "croniter", "loguru", "typer", "naq.client"])
def test_scheduler_runtime_dependencies_import(module: str) -> None:
    importlib.import_module(module)
