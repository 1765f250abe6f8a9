"""Protocol tests: hypothesis profiles for the decoder properties."""

from harness.hypothesis_profiles import register_profiles

register_profiles()
