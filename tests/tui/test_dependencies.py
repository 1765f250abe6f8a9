"""naq-tui's declared dependencies are enough for the Textual monitor."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["nats", "textual", "loguru", "typer", "naq.client"])
def test_tui_runtime_dependencies_import(module: str) -> None:
    importlib.import_module(module)
