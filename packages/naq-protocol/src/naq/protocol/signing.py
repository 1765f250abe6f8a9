"""Signed jobs: the keys of ``NAQ_SIGNING_KEY``, and signing and checking a job's bytes.

A signature is HMAC-SHA256 over the job envelope's bytes exactly as published (the message data,
and nothing else: no header, so a server-side schedule that rewrites the ``Nats-*`` headers keeps
it valid). It travels in the ``Naq-Signature`` header as ``<key_id>:<64 hex digits>``.

``NAQ_SIGNING_KEY`` is either one secret (its key id is :data:`DEFAULT_KEY_ID`) or
comma-separated ``key_id:secret`` pairs: jobs are signed with the first and accepted with any,
so a key is rotated by putting the new one first on producers and the scheduler, adding it to
the workers, and removing the old one once no job signed with it is left (see
``docs/how-to/security.md``). Key ids are ``[A-Za-z0-9_-]{1,64}``; a secret is everything after
the first ``:`` of its pair (so it may contain ``:``, never ``,``), spaces around it stripped.
Secrets never appear in a repr or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from naq.protocol.errors import ConfigurationError

__all__ = [
    "DEFAULT_KEY_ID",
    "RejectReason",
    "SigningKeys",
    "check_signature",
    "explain",
    "signing_keys",
]

DEFAULT_KEY_ID: Final = "default"
"""Key id of a ``NAQ_SIGNING_KEY`` that is one bare secret (no ``key_id:`` in front)."""

_KEY_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_SIGNATURE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}:[0-9a-f]{64}")


def check_signature(value: str | None) -> None:
    """``ValueError`` unless ``value`` is ``None`` or shaped like a ``Naq-Signature`` value (for
    records that store one: whatever they hold goes into a header again)."""
    if value is not None and not _SIGNATURE.fullmatch(value):
        raise ValueError("signature must be <key_id>:<64 lowercase hex digits>")


class RejectReason(StrEnum):
    """Why a message on a queue subject was not run, as its dead-letter record says."""

    UNDECODABLE = "undecodable"
    """Not a job envelope naq can read."""
    UNSIGNED = "unsigned"
    """The worker requires signed jobs and the message has no ``Naq-Signature`` header."""
    UNKNOWN_KEY = "unknown_key"
    """Signed with a key id the worker does not hold."""
    BAD_SIGNATURE = "bad_signature"
    """The signature does not match the bytes (tampered, or a malformed header)."""


@dataclass(frozen=True, eq=False, repr=False)
class SigningKeys:
    """Parsed ``NAQ_SIGNING_KEY``: sign with the first key, accept any.

    Built by :func:`signing_keys` (cached per value), so the keyed HMAC objects are made once and
    each signature only copies one. The repr names the key ids, never a secret.
    """

    key_ids: tuple[str, ...]
    """Every key id, the signing key's first."""
    _keys: dict[str, Any] = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> SigningKeys:
        """The keys in ``text``; ``ConfigurationError`` saying what is wrong (never showing a secret)."""
        reason = _parse(text)
        if isinstance(reason, str):
            raise ConfigurationError(f"NAQ_SIGNING_KEY: {reason}")
        return cls(tuple(reason), reason)

    @property
    def signing_id(self) -> str:
        """The id of the key jobs are signed with (the first)."""
        return self.key_ids[0]

    def sign(self, data: bytes) -> str:
        """The ``Naq-Signature`` header value for ``data``: ``<key_id>:<hex HMAC-SHA256>``."""
        key_id = self.key_ids[0]
        mac = self._keys[key_id].copy()
        mac.update(data)
        return f"{key_id}:{mac.hexdigest()}"

    def check(self, data: bytes, header: str | None) -> RejectReason | None:
        """Why ``data`` with signature ``header`` must be rejected; ``None`` if it verifies."""
        if header is None:
            return RejectReason.UNSIGNED
        key_id, _, digest = header.strip().partition(":")
        key = self._keys.get(key_id)
        if key is None:
            return RejectReason.UNKNOWN_KEY
        if not _DIGEST.fullmatch(digest):
            return RejectReason.BAD_SIGNATURE
        mac = key.copy()
        mac.update(data)
        if not hmac.compare_digest(mac.hexdigest(), digest):
            return RejectReason.BAD_SIGNATURE
        return None

    def __repr__(self) -> str:
        return f"SigningKeys(key_ids={self.key_ids!r})"


def _parse(text: str) -> dict[str, Any] | str:
    """The keyed HMAC objects of a ``NAQ_SIGNING_KEY`` value by key id, or what is wrong with it."""
    entries = [entry.strip() for entry in text.split(",")]
    if not any(entries):
        return "it is empty: give a secret, or key_id:secret pairs"
    single = len(entries) == 1 and ":" not in entries[0]
    keys: dict[str, Any] = {}
    for n, entry in enumerate(entries, 1):
        if single:
            key_id, secret = DEFAULT_KEY_ID, entry
        else:
            key_id, sep, secret = entry.partition(":")
            key_id, secret = key_id.strip(), secret.strip()
            if not sep:
                return f"entry {n} has no ':': with several keys each is key_id:secret"
            if not key_id:
                return f"entry {n} has an empty key id (before ':')"
            if not _KEY_ID.fullmatch(key_id):
                # Not shown: a malformed "id" may be part of a secret that contains ':'.
                return f"entry {n}: the key id (before ':') must be 1-64 of A-Z a-z 0-9 _ -"
        if not secret:
            return f"entry {n} ({key_id}) has an empty secret"
        if key_id in keys:
            return f"it names key id {key_id!r} twice"
        keys[key_id] = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    return keys


@lru_cache(maxsize=16)
def signing_keys(text: str) -> SigningKeys:
    """:meth:`SigningKeys.parse`, cached per value: the hot path looks keys up, never parses them."""
    return SigningKeys.parse(text)


def explain(reason: RejectReason, header: str | None) -> str:
    """A one-line message for a rejected job (the key id is shown, never a digest or a secret)."""
    key_id = None if header is None else header.strip().partition(":")[0]
    if reason is RejectReason.UNSIGNED:
        return "job rejected: it is not signed (no Naq-Signature header) and this worker requires signed jobs"
    if reason is RejectReason.UNKNOWN_KEY:
        shown = key_id if key_id is not None and _KEY_ID.fullmatch(key_id) else "(malformed)"
        return f"job rejected: signed with key id {shown}, which this worker does not hold"
    if reason is RejectReason.BAD_SIGNATURE:
        return f"job rejected: its signature (key id {key_id}) does not match its bytes (tampered or malformed)"
    return "job rejected: not a job naq can read"
