"""Hypothesis profiles: ``ci`` (1,000 examples per property, the default) and ``thorough`` (10,000).

The profile is chosen by ``NAQ_HYPOTHESIS_PROFILE`` (``hatch run test-thorough`` sets it), since
these profiles are registered after pytest has parsed its own options.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["register_profiles"]


def register_profiles() -> None:
    """Register both profiles and load the one ``NAQ_HYPOTHESIS_PROFILE`` names (default ``ci``)."""
    common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
    settings.register_profile("ci", max_examples=1_000, **common)
    settings.register_profile("thorough", max_examples=10_000, **common)
    settings.load_profile(os.environ.get("NAQ_HYPOTHESIS_PROFILE", "ci"))
