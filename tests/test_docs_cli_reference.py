"""The docs site's generated command line reference lists every command and option of the installed CLIs.

The oracle is the installed console scripts' own ``--help``, run as subprocesses: what a user sees,
the ``naq.cli`` plugins included. The page is rendered by the docs hook without mkdocs.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

HOOK = Path(__file__).resolve().parent.parent / "docs" / "hooks" / "cli_reference.py"
PROGRAMS = ["naq", "naq-worker", "naq-scheduler", "naq-tui"]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(name: str) -> str:
    # The scripts of the environment running the tests, not whatever else is on PATH.
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"console script {name} is not installed next to {sys.executable}"
    return path


def _sections(help_text: str) -> dict[str, list[str]]:
    """click's help split into its sections (``Options:``, ``Commands:``, ...), lines kept."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in help_text.splitlines():
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            current = line[:-1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


@cache
def _tree(program: str) -> dict[str, set[str]]:
    """Every command path of one program with the long options its ``--help`` lists."""
    found: dict[str, set[str]] = {}
    pending = [[program]]
    while pending:  # bounded: each path is visited once and the tree is finite
        path = pending.pop()
        result = subprocess.run(
            [_script(program), *path[1:], "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"COLUMNS": "200", "PATH": str(Path(sys.executable).parent)},
        )
        assert result.returncode == 0, result.stderr
        sections = _sections(result.stdout)
        options = set()
        for line in sections.get("Options", []):
            if line.startswith("  -"):
                options.update(re.findall(r"--[a-z][a-z0-9-]*", line.split("  ")[1]))
        options.discard("--help")
        found[" ".join(path)] = options
        for line in sections.get("Commands", []):
            if re.match(r"  [a-z]", line):
                pending.append([*path, line.split()[0]])
    return found


@pytest.fixture(scope="module")
def page() -> str:
    return _hook().render_reference()


def _section_of(page: str, path: str) -> str:
    """The part of the page under the heading of ``path``, up to the next heading."""
    match = re.search(rf"^#+ `{re.escape(path)}` \{{ #[^ ]+ \}}\n(.*?)(?=^#+ |\Z)", page, re.M | re.S)
    assert match, f"no section for `{path}` in the generated reference"
    return match.group(1)


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_command_and_option_is_on_the_page(page: str, program: str) -> None:
    tree = _tree(program)
    assert len(tree) >= 1
    for path, options in tree.items():
        # The flags named in the first column of the section's tables.
        listed = {
            flag
            for cell in re.findall(r"^\| `([^`]+)` \|", _section_of(page, path), re.M)
            for flag in re.findall(r"--[a-z][a-z0-9-]*", cell)
        }
        assert options <= listed, (path, options - listed)


def test_the_naq_plugins_are_listed(page: str) -> None:
    # worker and scheduler come from other distributions through the naq.cli entry points.
    tree = _tree("naq")
    assert {"naq worker", "naq scheduler", "naq failed requeue"} <= set(tree)
    assert "{ #naq_worker }" in page
    assert "{ #naq-worker }" in page


def test_a_missing_section_is_noticed() -> None:
    # The check itself can fail: a page without a command's heading.
    with pytest.raises(AssertionError, match="no section"):
        _section_of("# Command line reference\n\n## `naq` { #naq }\n", "naq purge")
