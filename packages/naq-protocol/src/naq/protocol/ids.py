"""Validation of the ids naq puts into subjects and KV keys.

Queue names, job ids, schedule ids and worker ids become NATS subject tokens and KV keys, so they
are limited to ``[A-Za-z0-9_-]{1,64}`` (KV keys allow no ``:``, subjects no ``.``/``*``/``>``).
A bad id is a ``ValueError`` at the call that names the value, never a publish to a subject no
stream captures.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from typing import Final

from naq.protocol.names import SYSTEM_EVENTS_TOKEN

__all__ = [
    "ID_PATTERN",
    "MAX_ID_LENGTH",
    "new_job_id",
    "process_id",
    "validate_job_id",
    "validate_queue_name",
    "validate_schedule_id",
    "validate_token",
    "validate_worker_id",
]

MAX_ID_LENGTH: Final = 64
"""Longest queue name or id, in characters."""

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What every queue name and id must match in full."""

_RESERVED_QUEUE_NAMES: Final = frozenset({SYSTEM_EVENTS_TOKEN})


def _validate(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be a string, got {type(value).__name__}: {value!r}")
    if ID_PATTERN.fullmatch(value) is None:
        raise ValueError(
            f"invalid {kind} {value!r}: use 1 to {MAX_ID_LENGTH} characters from A-Z, a-z, 0-9, '_' and '-'"
        )
    return value


def validate_queue_name(name: object) -> str:
    """Return ``name`` if it is a valid queue name, else raise ``ValueError`` naming it."""
    _validate("queue name", name)
    if name in _RESERVED_QUEUE_NAMES:
        raise ValueError(f"invalid queue name {name!r}: it is reserved for naq's system events")
    return name  # type: ignore[return-value]  # checked to be str above


def validate_job_id(job_id: object) -> str:
    """Return ``job_id`` if it is a valid job id, else raise ``ValueError`` naming it."""
    return _validate("job id", job_id)


def validate_schedule_id(schedule_id: object) -> str:
    """Return ``schedule_id`` if it is a valid schedule id, else raise ``ValueError`` naming it."""
    return _validate("schedule id", schedule_id)


def validate_worker_id(worker_id: object) -> str:
    """Return ``worker_id`` if it is a valid worker id, else raise ``ValueError`` naming it."""
    return _validate("worker id", worker_id)


def validate_token(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid subject token of the given ``kind`` (e.g. an event kind)."""
    return _validate(kind, value)


def process_id() -> str:
    """An id for a long-running naq process (a worker, a scheduler): host, pid and a random suffix.

    Readable in a monitor (which host, which process) and unique across restarts with the same pid.
    """
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def new_job_id() -> str:
    """A fresh random job id: 32 hex characters, unique without coordination."""
    return secrets.token_hex(16)
