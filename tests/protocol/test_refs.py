"""Function and exception references: importable names only, clear errors otherwise."""

from __future__ import annotations

import functools
import json
import os.path

import pytest

from naq.protocol import (
    DependencyFailedError,
    ErrorInfo,
    JobCancelledError,
    JobExecutionError,
    JobRejectedError,
    JobTimeoutError,
    MessageTooLargeError,
    NaqError,
    PickleNotAllowedError,
    ResultTooLargeError,
    SerializationError,
    WorkerLostError,
)
from naq.protocol.refs import (
    canonical_exception_ref,
    describe_callable,
    exception_matches,
    exception_ref,
    function_ref,
    module_of,
    resolve_ref,
)


class Holder:
    """A class whose methods are referenced."""

    @staticmethod
    def static() -> int:
        return 1

    @classmethod
    def klass(cls) -> int:
        return 2

    def method(self) -> int:
        return 3


def module_level(x: int) -> int:
    return x


class AppError(Exception):
    """A user exception."""


class SpecificError(AppError):
    """A subclass, to check matching along the class hierarchy."""


def test_module_level_functions_and_class_members_resolve_back() -> None:
    for func in [module_level, json.dumps, os.path.join, Holder.static, Holder.klass, len]:
        ref = function_ref(func)
        assert resolve_ref(ref) == func


def test_function_ref_names_module_and_qualname() -> None:
    assert function_ref(json.dumps) == "json:dumps"
    assert function_ref(Holder.static).endswith(":Holder.static")


def nested_factory():
    def inner() -> None:
        return None

    return inner


@pytest.mark.parametrize(
    ("func", "message"),
    [
        (lambda: 1, "lambda"),
        (nested_factory(), "inside another function"),
        (Holder().method, "bound to an instance"),
        (functools.partial(module_level, 1), "no importable name"),
        (42, "not callable"),
    ],
)
def test_unimportable_callables_are_clear_errors(func, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        function_ref(func)


def test_functions_from_main_are_refused() -> None:
    def fake_main() -> None:
        return None

    fake_main.__module__ = "__main__"
    fake_main.__qualname__ = "fake_main"
    with pytest.raises(SerializationError, match="__main__"):
        function_ref(fake_main)
    assert describe_callable(fake_main) == "__main__:fake_main"


def test_exception_refs_and_matching_along_the_hierarchy() -> None:
    ref = exception_ref(AppError)
    assert ref.endswith(":AppError")
    assert exception_ref("builtins:ValueError") == "builtins:ValueError"
    assert exception_matches(SpecificError("x"), [ref])
    assert exception_matches(KeyError("x"), ["builtins:LookupError"])
    assert not exception_matches(ValueError("x"), [ref])
    assert not exception_matches(ValueError("x"), [])


@pytest.mark.parametrize("bad", ["ValueError", "a:b:c", "", 3, int, object()])
def test_bad_exception_references_are_refused(bad: object) -> None:
    with pytest.raises(SerializationError):
        exception_ref(bad)  # type: ignore[arg-type]


def test_resolve_reports_missing_modules_and_names() -> None:
    assert module_of("pkg.mod:Thing.attr") == "pkg.mod"
    with pytest.raises(ImportError):
        resolve_ref("naq_no_such_module_anywhere:f")
    with pytest.raises(AttributeError):
        resolve_ref("json:no_such_function")
    with pytest.raises(ValueError, match="not a reference"):
        resolve_ref("json.dumps")


# --- naq's errors by their public wire names ------------------------------------------------------

WIRE_NAMES = {
    JobTimeoutError: "naq.worker:JobTimeoutError",
    WorkerLostError: "naq.worker:WorkerLostError",
    JobRejectedError: "naq.worker:JobRejectedError",
    DependencyFailedError: "naq.client:DependencyFailedError",
    JobCancelledError: "naq.client:JobCancelledError",
    ResultTooLargeError: "naq.client:ResultTooLargeError",
    MessageTooLargeError: "naq.client:MessageTooLargeError",
    SerializationError: "naq.client:SerializationError",
    PickleNotAllowedError: "naq.client:PickleNotAllowedError",
    NaqError: "naq.client:NaqError",
}

FORMER_NAMES = {
    "naq.worker._executor:JobTimeoutError": JobTimeoutError,
    "naq.worker._processor:WorkerLostError": WorkerLostError,
    "naq.worker._loader:JobRejectedError": JobRejectedError,
    "naq.protocol.errors:DependencyFailedError": DependencyFailedError,
    "naq.protocol.errors:JobCancelledError": JobCancelledError,
    "naq.protocol.errors:ResultTooLargeError": ResultTooLargeError,
}


@pytest.mark.parametrize(("cls", "wire"), list(WIRE_NAMES.items()), ids=lambda v: getattr(v, "__name__", v))
def test_naq_errors_are_named_by_their_wire_name(cls: type[BaseException], wire: str) -> None:
    assert exception_ref(cls) == wire
    assert exception_ref(wire) == wire  # the string a producer writes gives the same reference
    assert ErrorInfo.from_exception(_instance(cls)).type == wire
    assert exception_matches(_instance(cls), [wire])


def test_every_naq_error_has_a_wire_name_of_its_own() -> None:
    from naq.protocol import errors

    classes = list({c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, NaqError)})
    assert len(classes) == 18
    wires = [vars(cls).get("WIRE_NAME") for cls in classes]
    assert all(isinstance(w, str) and w.endswith(f":{c.__name__}") for w, c in zip(wires, classes, strict=True))
    assert len(set(wires)) == len(classes)


@pytest.mark.parametrize(("former", "cls"), list(FORMER_NAMES.items()))
def test_names_stored_before_still_match(former: str, cls: type[BaseException]) -> None:
    """Queued jobs carry the old private names in retry_on/ignore_on; results carry them as types."""
    assert exception_matches(_instance(cls), [former])
    assert exception_ref(former) == WIRE_NAMES[cls]
    assert canonical_exception_ref(former) == WIRE_NAMES[cls]
    assert not exception_matches(ValueError("x"), [former])


def test_any_public_module_of_a_naq_error_names_it() -> None:
    for name in ("naq.protocol:JobTimeoutError", "naq.client:JobTimeoutError", "naq.protocol.errors:JobTimeoutError"):
        assert exception_matches(JobTimeoutError.after(1.0), [name])
        assert exception_ref(name) == "naq.worker:JobTimeoutError"


def test_matching_follows_the_hierarchy_through_wire_names() -> None:
    timeout = JobTimeoutError.after(0.5, thread_running=True)
    assert timeout.thread_running
    assert isinstance(timeout, TimeoutError)
    assert exception_matches(timeout, ["builtins:TimeoutError"])
    assert exception_matches(timeout, ["naq.client:NaqError"])
    assert exception_matches(ResultTooLargeError("x", 2, 1), ["naq.client:MessageTooLargeError"])
    assert exception_matches(DependencyFailedError("j", "t", "m"), ["naq.protocol.errors:JobExecutionError"])
    assert not exception_matches(WorkerLostError("x"), ["naq.worker:JobTimeoutError"])


def test_a_subclass_of_a_naq_error_is_named_as_itself() -> None:
    class MyTimeout(JobTimeoutError):
        pass

    ref = exception_ref(MyTimeout)
    assert ref.endswith(":test_a_subclass_of_a_naq_error_is_named_as_itself.<locals>.MyTimeout")
    assert exception_matches(MyTimeout("x"), ["naq.worker:JobTimeoutError"])
    assert not exception_matches(JobTimeoutError("x"), [ref])


def test_other_references_are_left_as_they_are() -> None:
    assert canonical_exception_ref("builtins:ValueError") == "builtins:ValueError"
    assert canonical_exception_ref("not a ref") == "not a ref"
    assert exception_ref(AppError) == f"{__name__}:AppError"


def _instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, JobExecutionError):
        return cls("job", "t", "m")
    if issubclass(cls, MessageTooLargeError):
        return cls("too large", 2, 1)
    return cls("x")
