"""``naq-worker --check``: is this container's worker alive? Asked of the worker registry.

A worker proves it is alive by its heartbeat record in ``naq_workers``: the record is written every
``NAQ_WORKER_HEARTBEAT_INTERVAL`` and expires ``NAQ_WORKER_TTL`` seconds after the last one, so a
worker whose process died, or whose event loop stopped, drops out of the registry on its own. The
check finds the record by worker id when one is given (``--name``), else by this machine's
hostname: a container's hostname is unique per replica, and a worker runs as one process (naq has
no multi-process mode), so one container holds one worker. A record of this host whose pid no
longer exists (a worker killed less than a TTL ago) does not count, nor does a worker that is
draining to stop, nor one whose last beat is older than the TTL (its event loop is stuck).
"""

from __future__ import annotations

import socket
import time

from naq.client import list_workers
from naq.client.runtime import pid_alive
from naq.protocol import Settings, WorkerHeartbeat, WorkerStatus

__all__ = ["check_worker"]


def _verdict(record: WorkerHeartbeat, hostname: str, ttl: float, now: float) -> str | None:
    """Why ``record`` is not a live worker, or None if it is."""
    if record.status == WorkerStatus.STOPPING:
        return f"worker {record.worker_id} is stopping"
    # A pid and a clock mean something only on their own host (the check runs inside the worker's
    # container): there, a record is not taken on trust until the bucket expires it.
    if record.hostname == hostname:
        if not pid_alive(record.pid):
            return f"worker {record.worker_id} has a record but its process (pid {record.pid}) is gone"
        if now - record.heartbeat_at > ttl:
            return f"worker {record.worker_id} last beat {now - record.heartbeat_at:.1f} s ago (TTL {ttl:g} s): stuck"
    return None


async def check_worker(
    settings: Settings, worker_id: str | None = None, hostname: str | None = None
) -> tuple[bool, str]:
    """Whether the worker ``worker_id`` (default: any worker of ``hostname``, default this machine's)
    has a live heartbeat record, with the one-line reason; ``NaqConnectionError`` if NATS cannot be reached."""
    host = socket.gethostname() if hostname is None else hostname
    workers = await list_workers(settings.servers)
    if worker_id is not None:
        mine = [w for w in workers if w.worker_id == worker_id]
        wanted = f"worker {worker_id}"
    else:
        mine = [w for w in workers if w.hostname == host]
        wanted = f"a worker on host {host}"
    if not mine:
        return False, f"no heartbeat record of {wanted} in the registry ({len(workers)} live worker(s))"
    now = time.time()
    reasons = []
    for record in mine:
        reason = _verdict(record, host, settings.worker_ttl, now)
        if reason is None:
            age = max(0.0, now - record.heartbeat_at)
            return True, f"worker {record.worker_id} ({record.status}, pid {record.pid}) heartbeat {age:.1f} s ago"
        reasons.append(reason)
    return False, "; ".join(reasons)
