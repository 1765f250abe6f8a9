"""A worker runs only what it was told to run (issue 13): allowed modules are required, and the
modules that run code or commands are never matched implicitly.

The verdicts (:func:`naq.worker._allowlist.refusal`) and the loading of a job's function
(:func:`naq.worker._loader.load_call`) without a server; starting a worker with and without
allowed modules in-process. The worker processes are in tests/e2e/test_allowlist.py.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import time

import pytest

from harness import jobs
from naq.protocol import ConfigurationError, JobEnvelope, JobRejectedError, Settings
from naq.worker import DENIED_MODULES, Worker
from naq.worker._allowlist import refusal
from naq.worker._loader import load_call

BRIEF_DENIED = [
    "os",
    "posix",
    "nt",
    "subprocess",
    "builtins",
    "importlib",
    "pickle",
    "shutil",
    "sys",
    "runpy",
    "code",
    "codeop",
    "pty",
    "ctypes",
    "multiprocessing",
    "socket",
    "marshal",
    "shelve",
    "webbrowser",
    "pdb",
    "_posixsubprocess",
    "cloudpickle",
]


def _job(function: str, *args: object) -> JobEnvelope:
    return JobEnvelope(
        job_id="j1",
        queue="default",
        function=function,
        payload={"args": list(args), "kwargs": {}},
        enqueued_at=time.time(),
    )


@pytest.fixture
def unset(test_settings: Settings) -> Settings:
    """The test settings without allowed modules (as a worker's environment is by default)."""
    return dataclasses.replace(test_settings, allowed_modules=None)


# --- the prefix rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "allowed"),
    [("tasks", ("tasks",)), ("tasks.mail", ("tasks",)), ("myapp.jobs.x", ("other", "myapp.jobs"))],
)
def test_a_prefix_allows_its_module_and_the_modules_inside_it(module: str, allowed: tuple[str, ...]) -> None:
    assert refusal(module, allowed) is None


@pytest.mark.parametrize(
    ("module", "allowed"), [("tasksx", ("tasks",)), ("task", ("tasks",)), ("myapp", ("myapp.jobs",))]
)
def test_a_prefix_allows_nothing_beside_it(module: str, allowed: tuple[str, ...]) -> None:
    assert (
        refusal(module, allowed) == f"module {module} is outside this worker's allowed modules ({', '.join(allowed)})"
    )


def test_the_denied_modules_include_the_briefs_list_and_more() -> None:
    assert set(BRIEF_DENIED) <= DENIED_MODULES
    assert {"platform", "asyncio.subprocess", "timeit", "pydoc", "logging.config"} <= DENIED_MODULES


@pytest.mark.parametrize(
    "module", [*BRIEF_DENIED, "os.path", "importlib.util", "multiprocessing.pool", "asyncio.subprocess"]
)
def test_any_module_never_matches_a_module_that_runs_code(module: str) -> None:
    reason = refusal(module, None)
    assert reason is not None
    assert "can run code or commands" in reason
    assert "--allow-module" in reason


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("asyncio.subprocess", ("asyncio",)),
        ("logging.config", ("logging",)),
        ("concurrent.futures.process", ("concurrent",)),
    ],
)
def test_a_broader_prefix_does_not_match_a_denied_module_inside_it(module: str, allowed: tuple[str, ...]) -> None:
    reason = refusal(module, allowed)
    assert reason is not None
    assert "can run code or commands" in reason
    assert refusal("asyncio.queues", ("asyncio",)) is None, "the rest of the prefix is allowed"


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("os", ("os",)),
        ("os.path", ("os",)),
        ("asyncio.subprocess", ("asyncio", "asyncio.subprocess")),
        ("os.path", ("os.path",)),
    ],
)
def test_a_prefix_naming_a_denied_module_allows_it(module: str, allowed: tuple[str, ...]) -> None:
    assert refusal(module, allowed) is None


# --- loading a job's function ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("os:system", ("true",)),
        ("subprocess:run", (["true"],)),
        ("builtins:eval", ("1",)),
        ("importlib:import_module", ("os",)),
    ],
)
@pytest.mark.parametrize("allowed", [None, ("harness",)], ids=["any-module", "allowlist"])
def test_a_function_of_a_denied_module_is_rejected_before_any_import(
    function: str, args: tuple[object, ...], allowed: tuple[str, ...] | None
) -> None:
    with pytest.raises(JobRejectedError, match=f"function {function} is refused: module"):
        load_call(_job(function, *args), False, allowed)


@pytest.mark.parametrize("allowed", [None, ("harness",)], ids=["any-module", "allowlist"])
def test_an_allowed_module_is_no_door_to_what_it_imports(allowed: tuple[str, ...] | None) -> None:
    # harness.jobs imports os and time: reaching os.system through it is refused either way.
    with pytest.raises(
        JobRejectedError, match=re.escape("harness.jobs:os.system is reached through os: module os is in os")
    ):
        load_call(_job("harness.jobs:os.system", "true"), False, allowed)
    with pytest.raises(JobRejectedError, match="special attribute __loader__"):
        load_call(_job("harness.jobs:__loader__.exec_module"), False, allowed)


def test_a_function_imported_into_an_allowed_module_from_a_denied_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if harness.jobs did `from shutil import rmtree as cleanup`.
    monkeypatch.setattr(jobs, "cleanup", shutil.rmtree, raising=False)
    with pytest.raises(
        JobRejectedError, match=re.escape("harness.jobs:cleanup is defined in shutil: module shutil is in shutil")
    ):
        load_call(_job("harness.jobs:cleanup", "/nowhere"), False, ("harness",))
    func, _, _ = load_call(_job("harness.jobs:add", 1, 2), False, ("harness",))
    assert func(1, 2) == 3
    # One process, two workers: what one allows does not leak into the other through the caches.
    load_call(_job("os:getpid"), False, ("os",))
    with pytest.raises(JobRejectedError, match="module os is in os"):
        load_call(_job("os:getpid"), False, ("harness",))


def test_explicitly_allowed_os_runs_os_functions() -> None:
    func, args, _ = load_call(_job("os:getpid"), False, ("os",))
    assert callable(func)
    assert args == []


# --- starting a worker -------------------------------------------------------------------------


def test_a_worker_without_allowed_modules_refuses_to_start_saying_how_to_set_them(unset: Settings) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Worker("default", settings=unset)
    message = str(refused.value)
    for way in ("--allow-module", "NAQ_ALLOWED_MODULES", "Worker(allowed_modules=", "--allow-any-module",
                "NAQ_ALLOW_ANY_MODULE=true", "allow_any_module=True"):  # fmt: skip
        assert way in message
    with pytest.raises(ConfigurationError, match="no allowed modules"):
        Worker("default", settings=unset, allowed_modules=[])


def test_allow_any_module_starts_a_worker_that_runs_any_module(unset: Settings) -> None:
    worker = Worker("default", settings=unset, allow_any_module=True)
    assert worker.allowed_modules is None
    assert worker.allow_any_module
    by_env = Worker("default", settings=Settings.from_env({"NAQ_ALLOW_ANY_MODULE": "true"}, nats_url=unset.nats_url))
    assert by_env.allowed_modules is None
    assert by_env.allow_any_module


def test_given_both_the_allowed_modules_win(test_settings: Settings, unset: Settings) -> None:
    worker = Worker("default", settings=unset, allowed_modules="tasks", allow_any_module=True)
    assert worker.allowed_modules == ("tasks",)
    assert not worker.allow_any_module
    from_env = Worker("default", settings=dataclasses.replace(test_settings, allow_any_module=True))
    assert from_env.allowed_modules == test_settings.allowed_modules
    assert not from_env.allow_any_module


def test_the_settings_read_naq_allow_any_module() -> None:
    assert Settings.from_env({}).allow_any_module is False
    assert Settings.from_env({"NAQ_ALLOW_ANY_MODULE": "yes"}).allow_any_module is True
    with pytest.raises(ConfigurationError, match="NAQ_ALLOW_ANY_MODULE"):
        Settings.from_env({"NAQ_ALLOW_ANY_MODULE": "maybe"})
