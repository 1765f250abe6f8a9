"""Producers import naq.client into web apps: it must not drag in Textual or Rich."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_client_loads_no_terminal_ui_stack() -> None:
    code = "import sys, naq.client; print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
