"""Small value checks shared by the record definitions; each raises ``ValueError`` naming the field."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_non_negative", "check_optional_positive", "check_ref"]


def check_non_negative(field: str, value: float | int) -> None:
    """``value`` is a finite number >= 0."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field} must be >= 0, got {value!r}")


def check_optional_positive(field: str, value: float | int | None) -> None:
    """``value`` is ``None`` or a finite number > 0."""
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise ValueError(f"{field} must be > 0 or None, got {value!r}")


def check_ref(field: str, value: Any, pattern: Any) -> None:
    """``value`` matches the reference pattern ``module:qualname``."""
    if pattern.fullmatch(value) is None:
        raise ValueError(f"{field} must look like 'module:qualname', got {value!r}")
