"""``compose.yaml`` and the images it builds, checked without a container engine (issues 11, 12).

Nothing can be built or run here, so the structure is what is checked (see
:mod:`harness.compose_check`): the services, the variables, the Dockerfiles, and every command a
container would run, which must be an installed console script accepting its options. Mutated
copies show that the check fails on a misspelt command, a bad option, an unknown variable, a
Dockerfile that runs as root, a monitor without a terminal and a dashboard that lets anyone act.
The demo's jobs then run for real: a worker started as the compose file starts it (its command,
environment and working directory) runs what the demo producer enqueues, against the test server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.compose_check import KNOWN_VARIABLES, compose_problems, dockerfile_problems
from harness.processes import ProcessGroup, console_script

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
WORKER_DOCKERFILE = REPO / "packages" / "naq-worker" / "Dockerfile"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _mutated(tmp_path: Path, change: Any) -> Path:
    """A copy of compose.yaml with ``change(data)`` applied, in ``tmp_path``."""
    data = _compose()
    change(data)
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_compose_file_and_its_images_are_sound() -> None:
    assert compose_problems(COMPOSE) == []


def test_a_misspelt_command_is_reported(tmp_path: Path) -> None:
    def misspell(data: dict[str, Any]) -> None:
        data["services"]["worker"]["command"] = ["naq-wokrer", "default", "--concurrency", "20"]

    problems = compose_problems(_mutated(tmp_path, misspell), REPO)
    assert problems == [
        "service worker: naq-wokrer default --concurrency 20: 'naq-wokrer' is not a console script installed "
        "in this environment"
    ]


def test_an_option_the_command_does_not_take_is_reported(tmp_path: Path) -> None:
    def bad_option(data: dict[str, Any]) -> None:
        data["services"]["scheduler"]["command"] = ["naq-scheduler", "--poll-every", "1"]

    problems = compose_problems(_mutated(tmp_path, bad_option), REPO)
    assert len(problems) == 1, problems
    assert problems[0].startswith("service scheduler: naq-scheduler --poll-every 1: --help exited 2")
    assert "--poll-every" in problems[0]


def test_an_unknown_or_bad_naq_variable_is_reported(tmp_path: Path) -> None:
    assert "NAQ_FOO" not in KNOWN_VARIABLES

    def unknown(data: dict[str, Any]) -> None:
        data["services"]["worker"]["environment"]["NAQ_FOO"] = "1"
        data["services"]["scheduler"]["environment"]["NAQ_SCHEDULER_LOCK_TTL"] = "soon"

    problems = compose_problems(_mutated(tmp_path, unknown), REPO)
    assert "service worker: NAQ_FOO is not a variable naq reads" in problems
    assert any(p.startswith("service scheduler: NAQ_SCHEDULER_LOCK_TTL = 'soon'") for p in problems), problems
    assert len(problems) == 2, problems


def test_a_worker_that_cannot_scale_or_import_its_tasks_is_reported(tmp_path: Path) -> None:
    def fixed(data: dict[str, Any]) -> None:
        worker = data["services"]["worker"]
        worker["container_name"] = "naq-worker"
        worker["environment"]["NAQ_ALLOWED_MODULES"] = "no_such_tasks_module"

    problems = compose_problems(_mutated(tmp_path, fixed), REPO)
    assert sorted(problems) == [
        "service worker: NAQ_ALLOWED_MODULES names 'no_such_tasks_module', which it cannot import",
        "service worker: container_name is set, so it cannot be scaled with --scale worker=N",
    ]


def test_a_monitor_without_a_terminal_or_a_dashboard_that_acts_for_anyone_is_reported(tmp_path: Path) -> None:
    def exposed(data: dict[str, Any]) -> None:
        services = data["services"]
        del services["tui"]["tty"]
        services["tui"]["profiles"] = ["demo"]
        services["dashboard"]["command"] = [*services["dashboard"]["command"], "--allow-actions"]
        services["dashboard"]["ports"] = ["8000:8000"]

    problems = compose_problems(_mutated(tmp_path, exposed), REPO)
    assert sorted(problems) == [
        "service dashboard: --allow-actions on a page without authentication",
        "service dashboard: port 8000:8000 is published beyond the host's loopback",
        "service tui: not in the monitor profile",
        "service tui: tty is not true (the monitor needs a terminal)",
    ]


def test_a_dockerfile_that_runs_as_root_without_a_health_check_is_reported() -> None:
    text = WORKER_DOCKERFILE.read_text(encoding="utf-8")
    assert dockerfile_problems(text, "worker") == []
    # Only the final stage, without its USER and HEALTHCHECK.
    final = text[text.rindex("\nFROM ") :].splitlines()
    single = "\n".join(line for line in final if not line.startswith(("USER", "HEALTHCHECK")))
    assert dockerfile_problems(single, "worker") == [
        "worker: not multi-stage (1 FROM)",
        "worker: the final stage sets no USER (it would run as root)",
        "worker: the final stage has no HEALTHCHECK command",
    ]
    assert dockerfile_problems(text.replace("USER 10001:10001", "USER root"), "worker") == [
        "worker: the final stage runs as root (USER root)"
    ]


def test_the_sdists_ship_their_dockerfiles() -> None:
    for package in ("naq-worker", "naq-scheduler", "naq-tui"):
        pyproject = (REPO / "packages" / package / "pyproject.toml").read_text(encoding="utf-8")
        assert '"Dockerfile"]' in pyproject.split("[tool.hatch.build.targets.sdist]")[1], package


async def test_the_demo_producer_gets_its_results_from_a_worker_run_as_compose_runs_it(
    processes: ProcessGroup, naq_env: dict[str, str]
) -> None:
    services = _compose()["services"]
    worker, producer = services["worker"], services["producer"]
    examples = REPO / "docs" / "examples" / "compose"
    # Compose's settings, with the test server in place of the compose network's NATS.
    env = {**naq_env, **worker["environment"], "NAQ_NATS_URL": naq_env["NAQ_NATS_URL"]}
    env["PYTHONPATH"] = ""  # only what the container has: its working directory, not the tests' harness
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # as the image sets it (and no __pycache__ left in docs/examples)
    started = processes.spawn(worker["command"][0], *worker["command"][1:], env=env, cwd=examples)

    command = producer["command"]
    assert command[0] == "python"
    run = await asyncio.create_subprocess_exec(
        console_script(command[0]),
        *command[1:],
        "--timeout",
        "30",
        cwd=examples,
        env={**env, **producer["environment"], "NAQ_NATS_URL": naq_env["NAQ_NATS_URL"]},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(run.communicate(), 60)
    except TimeoutError:
        run.kill()
        await run.communicate()
        pytest.fail(f"the producer did not finish:\n{processes.output(started)[-4000:]}")
    text = out.decode(errors="replace")
    assert run.returncode == 0, f"{text}\n--- worker\n{processes.output(started)[-4000:]}"
    assert "add(4, 4) = 8" in text, text
    assert "slow_square(3) = {'square': 9, 'worker_host'" in text, text
    assert started.poll() is None
