"""``python -m naq.client`` runs the ``naq`` command."""

from naq.client.cli import main

main()
