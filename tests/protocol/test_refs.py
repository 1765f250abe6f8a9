"""Function and exception references: importable names only, clear errors otherwise."""

from __future__ import annotations

import functools
import json
import os.path

import pytest

from naq.protocol import SerializationError
from naq.protocol.refs import (
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
