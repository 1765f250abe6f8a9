"""Whether a worker is in the registry: for tests that start workers (needs naq.client installed)."""

from __future__ import annotations

from naq.client import list_workers
from naq.protocol import Settings

__all__ = ["is_registered"]


async def is_registered(settings: Settings, worker_id: str) -> bool:
    """True once ``worker_id`` has a heartbeat record on the server of ``settings``."""
    return any(w.worker_id == worker_id for w in await list_workers(nats_url=settings.nats_url))
