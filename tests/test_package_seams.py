"""The packages talk to each other only through public names.

naq-worker, naq-scheduler and naq-tui build on ``naq.client.runtime`` (and the user API); none of
them imports a private ``naq.client._*`` module. naq-protocol imports no other naq package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a file imports, as (line, dotted name); ``from a import b`` yields ``a.b`` too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _is_private_client(module: str) -> bool:
    parts = module.split(".")
    return parts[:2] == ["naq", "client"] and len(parts) > 2 and parts[2].startswith("_")


def _sources(distribution: str) -> list[Path]:
    files = sorted((PACKAGES / distribution / "src").rglob("*.py"))
    assert files, f"no sources found for {distribution}"
    return files


def _private_client_imports(distribution: str) -> list[str]:
    found = []
    for path in _sources(distribution):
        for line, module in _imported_modules(path):
            if _is_private_client(module):
                found.append(f"{path.relative_to(PACKAGES)}:{line}: {module}")
    return found


@pytest.mark.parametrize("distribution", ["naq-worker", "naq-scheduler", "naq-tui"])
def test_no_private_client_module_is_imported_outside_naq_client(distribution: str) -> None:
    assert _private_client_imports(distribution) == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    # The scan itself must be able to fail: a file with each spelling of a private import.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import naq.client._queue\nfrom naq.client._acks import publish_acked\nfrom naq.client import _tasks\n"
        "from naq.client.runtime import Connection\n"
    )
    private = [module for _, module in _imported_modules(sample) if _is_private_client(module)]
    assert private == ["naq.client._queue", "naq.client._acks", "naq.client._acks.publish_acked", "naq.client._tasks"]


def test_naq_protocol_imports_no_other_naq_package() -> None:
    found = [
        f"{path.relative_to(PACKAGES)}:{line}: {module}"
        for path in _sources("naq-protocol")
        for line, module in _imported_modules(path)
        if module.startswith("naq.") and not module.startswith("naq.protocol")
    ]
    assert found == []
