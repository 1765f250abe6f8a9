"""Reading and changing schedule records in ``naq_scheduled_jobs``, always by compare-and-set.

Producers (pause, resume, modify, cancel) and the leading scheduler (claiming and confirming runs)
both change records only against the revision they read, so neither overwrites the other: a
change that loses the race reads the record again and re-applies itself, and a deleted
(cancelled) record is never written back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from typing import Final

import nats.js.errors
from loguru import logger
from nats.js.kv import KeyValue

from naq.client._connection import Connection
from naq.client._direct import bucket_values
from naq.client._kv_cas import kv_write_if
from naq.client._measured import check_size
from naq.client._publish import job_signature
from naq.client._resources import ensure_bucket
from naq.protocol import (
    ConfigurationError,
    JobEnvelope,
    MessageTooLargeError,
    NaqError,
    ScheduleRecord,
    SerializationError,
    Settings,
    names,
    resources,
    validate_schedule_id,
)
from naq.protocol.subjects import kv_key_subject

__all__ = [
    "ScheduleConflictError",
    "StoredSchedule",
    "change_schedule",
    "create_schedule",
    "delete_schedule",
    "one_off_to_cancel",
    "read_all_schedules",
    "read_schedule",
    "schedules_kv",
    "template_refusal",
]

_CAS_ATTEMPTS: Final = 500
"""Most read-change-write rounds one change makes before giving up. Each lost round means another
writer changed the record meanwhile; a random pause between rounds spreads out writers that
keep colliding (a hundred concurrent changes of one schedule all get through)."""

_MARKER_TTL: Final = 3600
"""Seconds the purge marker of a deleted schedule is kept (whole seconds: a message TTL)."""

_PURGE: Final = {names.HEADER_KV_OPERATION: "PURGE", names.HEADER_ROLLUP: "sub"}
"""Headers of a KV purge: the marker replaces every earlier revision of the key."""

_WIDEST_REVISION: Final = 2**64 - 1
"""The widest revision a compare-and-set header can carry (a stream sequence is 64 bits)."""

_CAS_PAUSE: Final = 0.02
"""Longest random pause, in seconds, after a lost round."""

StoredSchedule = tuple[ScheduleRecord, int]
"""A schedule record and its revision in the bucket."""


class ScheduleConflictError(NaqError):
    """A compare-and-set change of a schedule kept losing to other writers."""


async def schedules_kv(connection: Connection) -> KeyValue:
    """The ``naq_scheduled_jobs`` bucket, created with naq's configuration if missing."""
    return await ensure_bucket(connection, resources.schedules_bucket(connection.settings))


async def read_schedule(connection: Connection, schedule_id: str) -> StoredSchedule | None:
    """The record of ``schedule_id`` and its revision; ``None`` if there is none.

    A record that cannot be decoded raises ``SerializationError``.
    """
    validate_schedule_id(schedule_id)
    kv = await schedules_kv(connection)
    try:
        entry = await kv.get(schedule_id)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    if not entry.value:
        return None
    return ScheduleRecord.decode(entry.value), int(entry.revision or 0)


def template_refusal(settings: Settings, record: ScheduleRecord) -> str | None:
    """Why a holder of ``settings``' keys must not run ``record``'s job (its template's signature
    does not verify: the record was written or changed without the key); ``None`` if it may, or
    when ``settings`` hold no keys. The scheduler and a run-now check this before signing a run."""
    keys = settings.keys
    if keys is None:
        return None
    reason = keys.check(record.job.encode(), record.signature)
    if reason is None:
        return None
    return (
        f"its job's signature does not verify ({reason}): the record was written or changed without "
        "the signing key (NAQ_SIGNING_KEY), so it is not run"
    )


async def create_schedule(connection: Connection, record: ScheduleRecord) -> int:
    """Store a new schedule, its job template signed when the connection holds keys (the
    scheduler checks that signature before each run); ``ConfigurationError`` if the id is taken.

    ``MessageTooLargeError`` naming the schedule if the record, at its widest
    (:meth:`ScheduleRecord.widest`), would not fit the server's max payload: nothing is stored.
    """
    signature = job_signature(connection, record.job)
    if signature is not None:
        record = dataclasses.replace(record, signature=signature)
    kv = await schedules_kv(connection)
    widest = record.widest()
    headers = {names.HEADER_EXPECTED_LAST_SUBJECT_SEQUENCE: str(_WIDEST_REVISION)}
    try:
        check_size(connection.nc, kv_key_subject(names.SCHEDULES_BUCKET, record.schedule_id), widest.encode(), headers)
    except MessageTooLargeError as exc:
        raise MessageTooLargeError(
            f"schedule {record.schedule_id!r} was not stored: {exc} (measured with room for what the scheduler "
            f"adds as it runs); pass large data by reference (a path, a URL, an object store key)",
            exc.size,
            exc.limit,
        ) from None
    try:
        return await kv.create(record.schedule_id, record.encode())
    except nats.js.errors.KeyWrongLastSequenceError:
        raise ConfigurationError(
            f"a schedule with id {record.schedule_id!r} already exists: modify it, or cancel it first"
        ) from None


async def change_schedule(
    connection: Connection,
    schedule_id: str,
    change: Callable[[ScheduleRecord], ScheduleRecord | None],
    revision: int | None = None,
    stored: ScheduleRecord | None = None,
) -> StoredSchedule | None:
    """Apply ``change`` to the stored record by compare-and-set, re-reading after a lost race.

    ``change`` returns the new record, or ``None`` to leave it as it is. Starts from ``stored`` at
    ``revision`` when given (no read). Returns the record and revision now stored, or ``None`` if
    there is no record (never created, or deleted meanwhile).
    """
    kv = await schedules_kv(connection)
    current = (stored, revision) if stored is not None and revision is not None else None
    for _ in range(_CAS_ATTEMPTS):
        if current is None:
            current = await read_schedule(connection, schedule_id)
            if current is None:
                return None
        record, rev = current
        updated = change(record)
        if updated is None:
            return record, rev
        try:
            new_revision = await kv.update(schedule_id, updated.encode(), last=rev)
        except nats.js.errors.KeyWrongLastSequenceError:
            current = None  # someone else changed it: read again and re-apply
            await _lost_round()
            continue
        return updated, new_revision
    raise ScheduleConflictError(f"schedule {schedule_id!r} kept changing under {_CAS_ATTEMPTS} attempts to update it")


async def delete_schedule(connection: Connection, schedule_id: str, revision: int | None = None) -> bool:
    """Delete the record; True if this call deleted it.

    The record is purged, leaving a marker (watchers see the delete) that expires after
    ``_MARKER_TTL``: one-off jobs come and go all day, and their markers must not pile up. Once the
    marker is gone too, a stale compare-and-set still fails (the key's last revision is 0, not
    the one it read), so a cancelled schedule never comes back.

    With ``revision``, only if the record is still at it (False if it changed or is gone). Without,
    whatever it holds now (re-read after a lost race), so of concurrent deletes exactly one is True.
    """
    kv = await schedules_kv(connection)
    for _ in range(_CAS_ATTEMPTS):
        if revision is None:
            stored = await _revision(kv, schedule_id)
            if stored is None:
                return False
        else:
            stored = revision
        purged = await kv_write_if(
            connection, names.SCHEDULES_BUCKET, schedule_id, b"", stored, ttl=_MARKER_TTL, headers=_PURGE
        )
        if purged is None:
            if revision is not None:
                return False  # changed or deleted meanwhile
            await _lost_round()
            continue
        return True
    raise ScheduleConflictError(f"schedule {schedule_id!r} kept changing under {_CAS_ATTEMPTS} attempts to delete it")


async def one_off_to_cancel(connection: Connection, job_id: str) -> JobEnvelope | None:
    """Delete the one-off record of ``job_id`` if there is one; its job (for a cancelled result)."""
    try:
        stored = await read_schedule(connection, job_id)
    except SerializationError:
        return None
    if stored is None or not stored[0].one_off:
        return None
    record, revision = stored
    if not await delete_schedule(connection, job_id, revision):
        return None  # fired or changed meanwhile: the normal cancel path takes it from here
    return record.job


async def _lost_round() -> None:
    await asyncio.sleep(random.uniform(0, _CAS_PAUSE))  # noqa: S311  # spreading retries, not crypto


async def _revision(kv: KeyValue, key: str) -> int | None:
    try:
        entry = await kv.get(key)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    return int(entry.revision or 0) if entry.value else None


async def read_all_schedules(connection: Connection) -> list[StoredSchedule]:
    """Every schedule record now in the bucket (undecodable ones are logged and skipped).

    Read in batched direct gets, without a consumer: a dashboard listing schedules every second
    must not leave a consumer behind per call.
    """
    found: list[StoredSchedule] = []
    for key, message in (await bucket_values(connection, resources.schedules_bucket(connection.settings))).items():
        try:
            found.append((ScheduleRecord.decode(message.data), message.sequence))
        except SerializationError as exc:
            logger.warning("skipping undecodable schedule record {}: {}", key, exc)
    return found
