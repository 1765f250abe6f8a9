"""``naq-worker --help`` at 80 columns: whole option texts, no ``<bool>`` on flags."""

from __future__ import annotations

from harness.cli_help import help_problems
from naq.worker import cli


def test_the_worker_help_page_reads_whole_at_80_columns() -> None:
    assert help_problems(cli.app) == []
