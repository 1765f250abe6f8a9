"""Leader election: one TTL'd key, ``naq_scheduler_lock.leader_lock``, taken and renewed by compare-and-set.

- Taking the lock writes it only if the key is empty, deleted or expired (the expected last
  sequence is 0 or that of its delete/expiry marker), with a per-message TTL of ``lock_ttl``.
- Renewing writes it again only at our own revision, so a scheduler that lost the lock cannot
  extend someone else's.
- The lease is also kept locally: a leader may fire only until ``lock_ttl - renew_interval``
  seconds after it *sent* its last successful renewal (the server's TTL started later than that).
  A failed renewal, or a process frozen past that time, stops firing at once, before the lock can
  expire on the server and a standby take over.
- Releasing (on a clean stop) deletes the key at our revision, so a standby takes over at its
  next attempt instead of waiting out the TTL.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Final

import nats.errors
import nats.js.errors
from loguru import logger
from nats.js.api import RawStreamMsg

from naq.client.runtime import Connection, ensure_bucket, kv_write_if
from naq.protocol import LeaderLockRecord, SerializationError, names, resources
from naq.protocol.subjects import kv_key_subject

__all__ = ["LeaderLock"]

_LOST_ERRORS: Final = (nats.errors.Error, OSError, TimeoutError)


class LeaderLock:
    """The leader lock as one scheduler sees it; ``held`` says whether it may fire now."""

    def __init__(self, connection: Connection, instance_id: str, ttl: int, renew_interval: float) -> None:
        self.connection = connection
        self.instance_id = instance_id
        self.ttl = ttl
        self.renew_interval = renew_interval
        self.revision: int | None = None
        """Our revision of the lock while we hold it (or believe we might)."""
        self.acquired_at = 0.0
        self._valid_until = 0.0

    @property
    def held(self) -> bool:
        """True while this scheduler leads and its lease has not run out (monotonic clock)."""
        return self.revision is not None and time.monotonic() < self._valid_until

    def _record(self) -> bytes:
        now = time.time()
        return LeaderLockRecord(
            instance_id=self.instance_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            acquired_at=self.acquired_at or now,
            renewed_at=now,
        ).encode()

    async def _write(self, expected: int) -> int | None:
        await ensure_bucket(self.connection, resources.scheduler_lock_bucket(self.connection.settings))
        return await kv_write_if(
            self.connection, names.SCHEDULER_LOCK_BUCKET, names.LEADER_LOCK_KEY, self._record(), expected, ttl=self.ttl
        )

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if we lead now."""
        sent = time.monotonic()
        try:
            expected = await self._free_revision()
            if expected is None:
                return False
            self.acquired_at = time.time()
            revision = await self._write(expected)
        except _LOST_ERRORS as exc:
            logger.debug("could not try the leader lock: {}", exc)
            return False
        if revision is None:
            return False  # another scheduler took it first
        self.revision = revision
        self._valid_until = sent + self.ttl - self.renew_interval
        return True

    async def renew(self) -> bool:
        """Extend our lock; False (and firing stops) if it is not ours any more or cannot be reached."""
        if self.revision is None:
            return False
        sent = time.monotonic()
        try:
            revision = await self._write(self.revision)
        except _LOST_ERRORS as exc:
            # Unreachable: stop firing now; the next renewal may still succeed if the lock lives.
            self._valid_until = 0.0
            logger.warning("could not renew the leader lock ({}); not firing until it is renewed", exc)
            return False
        if revision is None:
            self.revision = None
            self._valid_until = 0.0
            return False
        self.revision = revision
        self._valid_until = sent + self.ttl - self.renew_interval
        return True

    async def release(self) -> None:
        """Give the lock up (delete it at our revision), so a standby takes over at once."""
        revision, self.revision, self._valid_until = self.revision, None, 0.0
        if revision is None:
            return
        try:
            handle = await ensure_bucket(self.connection, resources.scheduler_lock_bucket(self.connection.settings))
            await handle.delete(names.LEADER_LOCK_KEY, last=revision)
        except (nats.js.errors.APIError, *_LOST_ERRORS) as exc:
            logger.debug("leader lock not released (it expires by itself): {}", exc)

    async def holder(self) -> LeaderLockRecord | None:
        """Who holds the lock now, if anyone."""
        message = await self._latest()
        if message is None or _is_marker(message.headers):
            return None
        try:
            return LeaderLockRecord.decode(message.data or b"")
        except SerializationError:
            return None

    async def _free_revision(self) -> int | None:
        """The revision to take the lock at (0: never written), or ``None`` if it is held."""
        message = await self._latest()
        if message is None:
            return 0
        if _is_marker(message.headers) or not message.data:
            return int(message.seq or 0)
        return None

    async def _latest(self) -> RawStreamMsg | None:
        bucket = resources.scheduler_lock_bucket(self.connection.settings)
        await ensure_bucket(self.connection, bucket)
        try:
            return await self.connection.js.get_msg(
                bucket.stream_name,
                subject=kv_key_subject(names.SCHEDULER_LOCK_BUCKET, names.LEADER_LOCK_KEY),
                direct=True,
            )
        except nats.js.errors.NotFoundError:
            return None


def _is_marker(headers: dict[str, str] | None) -> bool:
    """A delete, a purge, or a server-placed expiry marker: the lock is free."""
    return bool(headers) and (names.HEADER_KV_OPERATION in headers or names.HEADER_MARKER_REASON in headers)  # type: ignore[operator]
