"""``python -m naq.scheduler``: the ``naq-scheduler`` command."""

from naq.scheduler.cli import main

main()
