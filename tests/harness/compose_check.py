"""A structural check of ``compose.yaml`` and the Dockerfiles it builds, without a container engine.

:func:`compose_problems` lists what is wrong (an empty list: nothing found): the services naq's
compose file must have and how they must be set up; every ``NAQ_*`` variable must be one naq reads
(a field of ``naq.protocol.Settings``) with a value it accepts; every Dockerfile a ``build``
section points at must exist, be multi-stage, run as a non-root user and have a ``HEALTHCHECK``;
and every command a container of naq's images would run (the service's ``entrypoint`` and
``command``, else the image's ``ENTRYPOINT``/``CMD``, and each ``HEALTHCHECK``) must start with a
console script installed in this environment and accept its options: the command with ``--help``
appended is run (in the directory mounted as the container's working directory) and must exit 0.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from naq.protocol import ConfigurationError, Settings

__all__ = ["KNOWN_VARIABLES", "compose_problems", "dockerfile_problems", "parse_dockerfile"]

KNOWN_VARIABLES = frozenset(f.metadata["env"] for f in dataclasses.fields(Settings))
"""Every ``NAQ_*`` variable naq reads."""

_ROOT_USERS = frozenset({"root", "0"})


# --- Dockerfiles -----------------------------------------------------------------------------------


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """The stages of a Dockerfile, each a list of (INSTRUCTION, arguments); comments dropped and
    continuation lines joined. Instructions before the first ``FROM`` (``ARG``) open no stage."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line.startswith("#") and not logical:
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        if logical.strip():
            word, _, rest = logical.strip().partition(" ")
            instruction = (word.upper(), rest.strip())
            if instruction[0] == "FROM":
                stages.append([])
            if stages:
                stages[-1].append(instruction)
        logical = ""
    return stages


def _argv(arguments: str) -> list[str]:
    """A RUN/CMD/ENTRYPOINT argument list: the exec (JSON) form, else the shell form's words."""
    if arguments.startswith("["):
        return [str(word) for word in json.loads(arguments)]
    return shlex.split(arguments)


def _healthcheck_argv(arguments: str) -> list[str] | None:
    """The command of ``HEALTHCHECK [--options] CMD ...`` (None for ``HEALTHCHECK NONE``)."""
    words = arguments.split()
    for i, word in enumerate(words):
        if word.upper() == "NONE":
            return None
        if word.upper() == "CMD":
            return _argv(arguments.split(None, i + 1)[i + 1])
    return None


def _final_stage(stages: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return stages[-1] if stages else []


def dockerfile_problems(text: str, where: str) -> list[str]:
    """What is wrong with a Dockerfile's structure: multi-stage, non-root ``USER`` and a
    ``HEALTHCHECK`` in the final stage, a command to run, no build tools installed there."""
    stages = parse_dockerfile(text)
    problems = []
    if len(stages) < 2:
        problems.append(f"{where}: not multi-stage ({len(stages)} FROM)")
    final = _final_stage(stages)
    users = [args.split(":")[0] for instruction, args in final if instruction == "USER"]
    if not users:
        problems.append(f"{where}: the final stage sets no USER (it would run as root)")
    elif users[-1] in _ROOT_USERS:
        problems.append(f"{where}: the final stage runs as root (USER {users[-1]})")
    checks = [args for instruction, args in final if instruction == "HEALTHCHECK"]
    if not checks or _healthcheck_argv(checks[-1]) is None:
        problems.append(f"{where}: the final stage has no HEALTHCHECK command")
    if not any(instruction in ("CMD", "ENTRYPOINT") for instruction, _ in final):
        problems.append(f"{where}: the final stage has no CMD or ENTRYPOINT")
    for instruction, args in final:
        if instruction == "RUN" and any(tool in args.split() for tool in ("gcc", "build-essential", "make")):
            problems.append(f"{where}: the final stage installs build tools: RUN {args}")
    return problems


def _image_commands(stages: list[list[tuple[str, str]]]) -> dict[str, list[str]]:
    """The final stage's ENTRYPOINT, CMD and HEALTHCHECK command (the last of each)."""
    found: dict[str, list[str]] = {}
    for instruction, args in _final_stage(stages):
        if instruction in ("ENTRYPOINT", "CMD"):
            found[instruction] = _argv(args)
        elif instruction == "HEALTHCHECK":
            check = _healthcheck_argv(args)
            if check is not None:
                found[instruction] = check
    return found


# --- commands --------------------------------------------------------------------------------------


@functools.cache
def _help_problem(argv: tuple[str, ...], cwd: str) -> str | None:
    """Why ``argv`` with ``--help`` appended is not a working command here, or None. Cached: the
    same command is asked about by each test that checks a compose file."""
    script = shutil.which(argv[0], path=sysconfig.get_path("scripts"))
    if script is None:
        return f"{argv[0]!r} is not a console script installed in this environment"
    try:
        ran = subprocess.run(
            [script, *argv[1:], "--help"],
            cwd=cwd,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # no __pycache__ left in docs/examples
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "--help did not finish within 60 s"
    if ran.returncode != 0:
        return f"--help exited {ran.returncode}: {(ran.stderr or ran.stdout).strip()[-500:]}"
    return None


def _command_problems(where: str, argv: Sequence[str], cwd: Path) -> list[str]:
    if not argv:
        return [f"{where}: empty command"]
    problem = _help_problem(tuple(argv), str(cwd))
    return [] if problem is None else [f"{where}: {shlex.join(argv)}: {problem}"]


def _words(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(word) for word in value] if isinstance(value, list) else shlex.split(str(value))


# --- compose ---------------------------------------------------------------------------------------


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _working_dir(service: Mapping[str, Any], project: Path) -> Path:
    """The host directory mounted at the service's working directory (else the project directory)."""
    inside = service.get("working_dir")
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.partition(":")[0]
        else:
            source, target = str(volume.get("source", "")), str(volume.get("target", ""))
        if inside and target == inside and source.startswith((".", "/")):
            return (project / source).resolve()
    return project


def _dockerfile_of(service: Mapping[str, Any], project: Path) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return project / build / "Dockerfile"
    return project / str(build.get("context", ".")) / str(build.get("dockerfile", "Dockerfile"))


def _variable_problems(name: str, env: Mapping[str, str]) -> list[str]:
    naq = {key: value for key, value in env.items() if key.startswith("NAQ_")}
    problems = [f"service {name}: {key} is not a variable naq reads" for key in sorted(set(naq) - KNOWN_VARIABLES)]
    try:
        Settings.from_env({key: value for key, value in naq.items() if key in KNOWN_VARIABLES})
    except ConfigurationError as exc:
        problems.append(f"service {name}: {exc}")
    return problems


def _allowed_module_problems(name: str, env: Mapping[str, str], cwd: Path) -> list[str]:
    problems = []
    for prefix in filter(None, (p.strip() for p in env.get("NAQ_ALLOWED_MODULES", "").split(","))):
        path = cwd.joinpath(*prefix.split("."))
        local = path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
        if not local and importlib.util.find_spec(prefix.split(".")[0]) is None:
            problems.append(f"service {name}: NAQ_ALLOWED_MODULES names {prefix!r}, which it cannot import")
    return problems


def _depends_healthy(service: Mapping[str, Any], on: str) -> bool:
    depends = service.get("depends_on") or {}
    return isinstance(depends, Mapping) and (depends.get(on) or {}).get("condition") == "service_healthy"


def _layout_problems(services: Mapping[str, Any]) -> list[str]:
    """The services issues 11 and 12 ask for, set up as they ask."""
    required = ("nats", "worker", "scheduler", "producer", "tui")
    problems = [f"no service {name!r}" for name in required if name not in services]
    nats = services.get("nats") or {}
    image = str(nats.get("image", ""))
    if nats and not (image.startswith("nats:2.15") and "alpine" in image):
        problems.append(f"service nats: image {image!r} is not nats:2.15-alpine")
    command = _words(nats.get("command")) or []
    for flag in ("-js", "--store_dir"):
        if flag not in command:
            problems.append(f"service nats: command {command} lacks {flag}")
    test = " ".join(_words((nats.get("healthcheck") or {}).get("test")) or [])
    if "/healthz?js-enabled-only=true" not in test:
        problems.append("service nats: the healthcheck does not ask /healthz?js-enabled-only=true")
    for name in ("worker", "scheduler", "producer", "tui", "dashboard"):
        service = services.get(name) or {}
        if service and not _depends_healthy(service, "nats"):
            problems.append(f"service {name}: does not wait for nats to be healthy")
        if service and _environment(service).get("NAQ_NATS_URL") != "nats://nats:4222":
            problems.append(f"service {name}: NAQ_NATS_URL is not nats://nats:4222")
    worker = services.get("worker") or {}
    for key in ("container_name", "ports"):
        if key in worker:
            problems.append(f"service worker: {key} is set, so it cannot be scaled with --scale worker=N")
    if worker and "NAQ_ALLOWED_MODULES" not in _environment(worker):
        problems.append("service worker: NAQ_ALLOWED_MODULES is not set")
    replicas = ((services.get("scheduler") or {}).get("deploy") or {}).get("replicas")
    if replicas != 2:
        problems.append(f"service scheduler: deploy.replicas is {replicas!r}, not 2")
    if "demo" not in ((services.get("producer") or {}).get("profiles") or []):
        problems.append("service producer: not in the demo profile")
    return problems + _monitor_problems(services)


def _monitor_problems(services: Mapping[str, Any]) -> list[str]:
    """The monitor (issue 12): ``tui`` in the monitor profile with a terminal; ``dashboard``, if
    there, in that profile and read-only (its page has no authentication)."""
    problems = []
    for name in ("tui", "dashboard"):
        service = services.get(name) or {}
        if service and "monitor" not in (service.get("profiles") or []):
            problems.append(f"service {name}: not in the monitor profile")
    tui = services.get("tui") or {}
    for key in ("tty", "stdin_open"):
        if tui and tui.get(key) is not True:
            problems.append(f"service tui: {key} is not true (the monitor needs a terminal)")
    dashboard = services.get("dashboard") or {}
    argv = (_words(dashboard.get("entrypoint")) or []) + (_words(dashboard.get("command")) or [])
    if "--allow-actions" in argv:
        problems.append("service dashboard: --allow-actions on a page without authentication")
    for port in dashboard.get("ports") or []:
        if not str(port.get("host_ip", "") if isinstance(port, Mapping) else port).startswith("127.0.0.1"):
            problems.append(f"service dashboard: port {port} is published beyond the host's loopback")
    return problems


def compose_problems(path: Path, project: Path | None = None) -> list[str]:
    """Everything wrong with the compose file at ``path`` (relative paths from ``project``,
    default the file's folder); an empty list if nothing is."""
    project = path.parent if project is None else project
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"{path.name} does not parse: {exc}"]
    services = (data or {}).get("services")
    if not isinstance(services, Mapping):
        return [f"{path.name} has no services"]
    problems = _layout_problems(services)
    images: dict[str, dict[str, list[str]]] = {}  # image name -> its commands, for services that only name it
    built: dict[str, dict[str, list[str]]] = {}
    for name, service in services.items():
        dockerfile = _dockerfile_of(service, project)
        if dockerfile is None:
            continue
        if not dockerfile.is_file():
            problems.append(f"service {name}: no Dockerfile at {dockerfile}")
            continue
        text = dockerfile.read_text(encoding="utf-8")
        where = str(dockerfile.relative_to(project)) if dockerfile.is_relative_to(project) else str(dockerfile)
        problems += [p for p in dockerfile_problems(text, where) if p not in problems]
        built[name] = _image_commands(parse_dockerfile(text))
        default = built[name].get("ENTRYPOINT", []) + built[name].get("CMD", [])
        problems += [p for p in _command_problems(f"{where} (ENTRYPOINT/CMD)", default, project) if p not in problems]
        if service.get("image"):
            images[str(service["image"])] = built[name]
    for name, service in services.items():
        env = _environment(service)
        problems += _variable_problems(name, env)
        commands = built.get(name) or images.get(str(service.get("image")))
        if commands is None:
            continue  # not one of naq's images (NATS): its commands are not naq's to check
        cwd = _working_dir(service, project)
        entrypoint = _words(service.get("entrypoint"))
        command = _words(service.get("command"))
        # Compose's rule: an entrypoint given in the service drops the image's CMD.
        argv = (entrypoint if entrypoint is not None else commands.get("ENTRYPOINT", [])) + (
            command if command is not None else ([] if entrypoint is not None else commands.get("CMD", []))
        )
        problems += _command_problems(f"service {name}", argv, cwd)
        disabled = (service.get("healthcheck") or {}).get("disable") is True
        if "HEALTHCHECK" in commands and not disabled:
            problems += _command_problems(f"service {name} (health check)", commands["HEALTHCHECK"], cwd)
        if "NAQ_ALLOWED_MODULES" in env:
            problems += _allowed_module_problems(name, env, cwd)
    return problems
