"""``python -m naq.worker`` runs ``naq-worker``."""

from naq.worker.cli import main

main()
