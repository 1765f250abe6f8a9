"""docs/getting-started.md runs as written: its code blocks, in order, as a reader runs them.

Python blocks are files (each opens with ``# <name>.py``) written to one folder; console blocks'
commands run in that folder against the fixture server (``NAQ_NATS_URL``): ``naq-worker`` and
``naq-scheduler`` keep running in the background as in a terminal of their own, every other
command runs to its end and must exit 0 and print what the guide shows under it (when it shows
anything). What a test cannot do as a reader does is checked instead: ``pip install`` names
packages this environment holds, and ``nats-server -js`` is the fixture server.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import naq.client
from harness.processes import ProcessGroup, console_script
from harness.schedules import leader
from harness.waiting import async_wait_for

REPO = Path(__file__).parents[2]
GUIDE = REPO / "docs" / "getting-started.md"

_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_FILE_NAME = re.compile(r"#\s*(\w+\.py)\b")
_SERVICES = ("naq-worker", "naq-scheduler")
_BAD_OUTPUT = ("Traceback (most recent call last)", "Task was destroyed", "Exception ignored")


@dataclass
class Command:
    """One ``$ ...`` line of a console block and the output lines the guide shows under it."""

    argv: list[str]
    expected: list[str] = field(default_factory=list)


def guide_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of ``text`` in order: (language, body)."""
    return [(match.group(1), match.group(2)) for match in _FENCE.finditer(text)]


def console_commands(body: str) -> list[Command]:
    """The commands of a console block, each with the output lines shown after it."""
    commands: list[Command] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append(Command(shlex.split(line[2:])))
        elif line.strip():
            assert commands, f"output before any command: {line!r}"
            commands[-1].expected.append(line.rstrip())
    return commands


def _naq_dependencies(package: Path) -> set[str]:
    """The naq distributions the package in folder ``package`` depends on."""
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[ ;]", dependency, maxsplit=1)[0] for dependency in project.get("dependencies", [])}
    return {name for name in names if name.startswith("naq-")}


class Reader:
    """Follows the guide in ``workdir``: writes its files and runs its commands."""

    def __init__(self, workdir: Path, env: dict[str, str], nats_url: str, js: Any) -> None:
        self.workdir = workdir
        self.env = env
        self.nats_url = nats_url
        self.js = js
        self.services = ProcessGroup(workdir.parent / "service-logs")
        self.services.log_dir.mkdir()
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.installed: set[str] = set()

    async def python_block(self, body: str) -> None:
        match = _FILE_NAME.match(body)
        assert match, f"a python block of the guide does not open with '# <name>.py':\n{body}"
        (self.workdir / match.group(1)).write_text(body)

    async def console_block(self, body: str) -> None:
        for command in console_commands(body):
            await self.run(command)

    async def run(self, command: Command) -> None:
        name, *args = command.argv
        if name == "pip":
            self.check_installed(args)
        elif name == "nats-server":
            assert args == ["-js"], command.argv  # the fixture server: JetStream on, this test's URL
        elif name in _SERVICES:
            assert not command.expected, f"{name} keeps running; the guide shows no output for it"
            await self.start_service(name, args)
        elif name in ("python", "naq", "pytest"):
            program = sys.executable if name == "python" else console_script(name)
            await self.run_to_end([program, *args], command)
        else:
            raise AssertionError(f"the guide runs a command this test does not know: {command.argv}")

    def check_installed(self, args: list[str]) -> None:
        """What pip would do: naq's own packages come from the clone (they are not on PyPI), each
        with the naq packages it depends on given in the same command or installed before; every
        requirement is in this environment."""
        assert args[0] == "install", args
        given = {Path(r).name for r in args[1:] if r.startswith("./")}
        for requirement in args[1:]:
            distribution = requirement
            if requirement.startswith("./"):
                assert (REPO / requirement / "pyproject.toml").is_file(), f"{requirement} is not a package folder"
                missing = _naq_dependencies(REPO / requirement) - given - self.installed
                assert not missing, f"pip install {requirement} needs {sorted(missing)}, which it cannot find"
                distribution = Path(requirement).name
            else:
                assert not requirement.startswith("naq-"), f"{requirement} is not on PyPI: ./packages/{requirement}"
            importlib.metadata.distribution(distribution)  # PackageNotFoundError if it is not installed
        self.installed |= given

    async def start_service(self, name: str, args: list[str]) -> None:
        env = dict(self.env)
        process = self._spawn(name, args, env)

        async def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.services.output(process)}")
            if name == "naq-worker":
                return bool(await naq.client.list_workers(nats_url=self.nats_url))
            return await leader(self.js) is not None

        await async_wait_for(ready, timeout=30, interval=0.1, what=f"{name} ready")

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        # In the guide's folder (ProcessGroup.spawn starts in this one), stopped with the group.
        log = self.services.log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [console_script(name), *args], cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.services.processes.append((process, log))
        self.started.append((name, process))
        return process

    async def run_to_end(self, argv: list[str], command: Command) -> None:
        ran = await asyncio.to_thread(
            subprocess.run, argv, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=90
        )
        shown = " ".join(command.argv)
        assert ran.returncode == 0, f"$ {shown} exited {ran.returncode}:\n{ran.stdout}\n{ran.stderr}\n{self.logs()}"
        for bad in _BAD_OUTPUT:
            assert bad not in ran.stderr, f"$ {shown} printed {bad!r}:\n{ran.stderr}"
        if command.expected:
            assert ran.stdout.strip().splitlines() == command.expected, f"$ {shown}\n{ran.stdout}\n{ran.stderr}"

    def stop_services(self) -> None:
        """SIGTERM each service (the last started first): each must stop cleanly."""
        for name, process in reversed(self.started):
            code = self.services.stop(process, timeout=40)
            output = self.services.output(process)
            assert code == 0, f"{name} exited {code} on SIGTERM:\n{output}"
            for bad in _BAD_OUTPUT:
                assert bad not in output, f"{name} printed {bad!r}:\n{output}"

    def logs(self) -> str:
        return "\n".join(f"--- {name}:\n{self.services.output(p)[-4000:]}" for name, p in self.started)


async def test_the_getting_started_guide_runs_as_written(tmp_path: Path, nats_url: str, js: Any) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
    env["NAQ_NATS_URL"] = nats_url
    reader = Reader(workdir, env, nats_url, js)
    blocks = guide_blocks(GUIDE.read_text())
    assert [language for language, _ in blocks if language not in ("console", "python")] == []
    try:
        for language, body in blocks:
            if language == "python":
                await reader.python_block(body)
            else:
                await reader.console_block(body)
        reader.stop_services()
    finally:
        reader.services.close()
        await naq.client.close()
    assert {path.name for path in workdir.glob("*.py")} >= {"tasks.py", "producer.py", "test_tasks.py"}
