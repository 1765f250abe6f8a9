"""``python -m naq.tui``: the ``naq-tui`` command."""

from naq.tui.cli import main

main()
