"""Checks every naq distribution must pass: it imports, shares the one version, pins exactly."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import distribution

__all__ = ["assert_naq_distribution"]

_INTERNAL = re.compile(r"^(naq-[a-z]+)(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def assert_naq_distribution(dist_name: str, import_name: str) -> None:
    """``dist_name`` is installed, ``import_name`` imports with the same version, and every naq
    dependency it declares is pinned to exactly that version."""
    dist = distribution(dist_name)
    module = importlib.import_module(import_name)
    assert module.__version__ == dist.version, f"{import_name}.__version__ differs from {dist_name}'s metadata"
    protocol = importlib.import_module("naq.protocol")
    assert dist.version == protocol.__version__, "all naq distributions share one version"
    for requirement in dist.requires or []:
        match = _INTERNAL.match(requirement)
        if match is None:
            continue
        assert match.group(3) == f"=={dist.version}", f"{dist_name} must pin {match.group(1)} exactly: {requirement}"
    # PEP 420: `naq` is a namespace package shared by five distributions, none of which owns it.
    naq = importlib.import_module("naq")
    assert getattr(naq, "__file__", None) is None, "no distribution may ship naq/__init__.py"
