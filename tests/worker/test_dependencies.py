"""naq-worker's declared dependencies are enough for what a worker needs to run jobs."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["nats", "loguru", "typer", "cloudpickle", "naq.client"])
def test_worker_runtime_dependencies_import(module: str) -> None:
    importlib.import_module(module)
