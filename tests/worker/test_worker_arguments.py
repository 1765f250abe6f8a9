"""A worker refuses arguments it cannot honour at start, not job by job (issue 9, item 13).

``--allow-module ''`` started a worker that rejected every job (an empty prefix matches no module),
and ``--grace nan`` was accepted (``nan < 0`` is false). Both are now a clear error before the
worker connects: ``ConfigurationError`` from ``Worker(...)``, exit code 4 from the command line.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.processes import ProcessGroup
from naq.protocol import ConfigurationError, Settings
from naq.worker import Worker

EXIT_CONFIG = 4


@pytest.mark.parametrize("grace", [float("nan"), float("inf"), -1.0, "30", True])
def test_worker_refuses_a_grace_that_is_not_a_finite_number_of_seconds(test_settings: Settings, grace: object) -> None:
    with pytest.raises(ConfigurationError, match="grace must be a number of seconds >= 0"):
        Worker("default", settings=test_settings, grace=grace)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefixes", [[""], ["tasks", ""], ["tasks."], [" tasks"], ["my-app"], ["1jobs"], [None]])
def test_worker_refuses_a_module_prefix_that_matches_no_module(test_settings: Settings, prefixes: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="is not a dotted module name"):
        Worker("default", settings=test_settings, allowed_modules=prefixes)


def test_worker_keeps_good_grace_and_prefixes(test_settings: Settings) -> None:
    worker = Worker("default", settings=test_settings, grace=0, allowed_modules=["tasks", "myapp.jobs"])
    assert worker.grace == 0
    assert worker.allowed_modules == ("tasks", "myapp.jobs")
    assert Worker("default", settings=test_settings, allowed_modules="tasks").allowed_modules == ("tasks",)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (("--allow-module", ""), "allowed module '' is not a dotted module name"),
        (("--allow-module", "tasks", "--allow-module", "tasks."), "allowed module 'tasks.'"),
        (("--grace", "nan"), "grace must be a number of seconds >= 0, got nan"),
        (("--grace", "-1"), "grace must be a number of seconds >= 0, got -1.0"),
    ],
    ids=["empty-module", "trailing-dot", "grace-nan", "grace-negative"],
)
def test_naq_worker_refuses_bad_arguments_at_start(
    processes: ProcessGroup, naq_env: dict[str, str], arguments: tuple[str, ...], complaint: str
) -> None:
    process = processes.spawn("naq-worker", "default", *arguments, env=naq_env)
    try:
        code = process.wait(20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker started anyway:\n{processes.output(process)[-2000:]}") from None
    output = processes.output(process)
    assert code == EXIT_CONFIG, output
    assert complaint in output
    assert "serving" not in output, "refused before serving any queue"
