"""The login and TLS settings as nats-py's connect options, every file checked before connecting.

nats-py reads a credentials or NKey seed file only while it connects, and trusts it: a
credentials file without the user JWT's marker makes it read the end of the file forever (the
connect hangs, past any timeout: the loop never yields), a bad seed raises nkeys' own error, and
without the optional ``nkeys`` package the connect dies of an ``ImportError``. So the files are
read and checked here first; each problem is a ``NaqConnectionError`` naming the variable and the
file. :func:`login_used` names the way naq logged in, for the message of a refused login.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from typing import Any, Final

from naq.protocol import NaqConnectionError, Settings

__all__ = ["auth_options", "login_used", "tls_context"]

_JWT_MARKER: Final = "BEGIN NATS USER JWT"
_SEED_MARKER: Final = "BEGIN USER NKEY SEED"
_NKEYS_HINT: Final = 'needs the nkeys package: pip install "naq-client[nkeys]"'


def login_used(settings: Settings) -> str:
    """How naq logs in with ``settings``, with the variables that say so (for error messages)."""
    if settings.nats_credentials:
        return f"the credentials file {settings.nats_credentials} (NAQ_NATS_CREDS)"
    if settings.nats_nkey_seed:
        return f"the NKey seed in {settings.nats_nkey_seed} (NAQ_NATS_NKEY_SEED)"
    if settings.nats_token:
        return "the token (NAQ_NATS_TOKEN)"
    if settings.nats_user:
        return f"user {settings.nats_user!r} and its password (NAQ_NATS_USER, NAQ_NATS_PASSWORD)"
    if any("@" in url.partition("://")[2] for url in settings.servers):
        return "the user in the URL (NAQ_NATS_URL)"
    return (
        "no credentials (set NAQ_NATS_USER and NAQ_NATS_PASSWORD, NAQ_NATS_TOKEN, NAQ_NATS_CREDS or NAQ_NATS_NKEY_SEED)"
    )


def _read(variable: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise NaqConnectionError(f"cannot read {variable} file {path}: {type(exc).__name__}: {exc}") from exc


def _check_seed(variable: str, path: str, seed: str) -> None:
    try:
        import nkeys  # noqa: PLC0415 - optional (naq-client[nkeys]), needed only for these logins
    except ImportError:
        raise NaqConnectionError(f"{variable} {_NKEYS_HINT}") from None
    if not seed.startswith("SU"):
        raise NaqConnectionError(f"{variable} file {path} holds no NKey user seed (a line starting with SU)")
    problem = None
    try:
        nkeys.from_seed(bytearray(seed.encode()))
        raw = base64.b32decode(seed + "=" * (-len(seed) % 8))
        # nkeys does not check a seed's checksum: a damaged one would log in as someone else.
        if nkeys.crc16(bytearray(raw[:-2])).to_bytes(2, "little") != raw[-2:]:
            problem = "its checksum does not match: the seed is damaged"
    except (nkeys.NkeysError, binascii.Error, ValueError) as exc:
        problem = type(exc).__name__
    if problem:
        raise NaqConnectionError(f"{variable} file {path}: not a valid NKey seed ({problem})")


def _check_creds(path: str) -> None:
    text = _read("NAQ_NATS_CREDS", path)
    missing = [what for marker, what in ((_JWT_MARKER, "user JWT"), (_SEED_MARKER, "NKey seed")) if marker not in text]
    if missing:
        raise NaqConnectionError(
            f"NAQ_NATS_CREDS file {path} is not a NATS credentials file: no {' and no '.join(missing)} section"
        )
    lines = text.splitlines()
    seed = next((lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if _SEED_MARKER in line), "")
    _check_seed("NAQ_NATS_CREDS", path, seed)


def auth_options(settings: Settings) -> dict[str, Any]:
    """nats-py's login options for ``settings``, after checking the files they name."""
    options: dict[str, Any] = {}
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_credentials:
        _check_creds(settings.nats_credentials)
        options["user_credentials"] = settings.nats_credentials
    if settings.nats_nkey_seed:
        path = settings.nats_nkey_seed
        _check_seed("NAQ_NATS_NKEY_SEED", path, _read("NAQ_NATS_NKEY_SEED", path).strip())
        options["nkeys_seed"] = path
    return options


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A context verifying the server (against ``NAQ_NATS_TLS_CA`` if set), with the client
    certificate if one is set; ``None`` without TLS settings (nats-py then makes a default context
    only if the server requires TLS)."""
    if settings.tls_key and not settings.tls_cert:
        raise NaqConnectionError("NAQ_NATS_TLS_KEY is set without NAQ_NATS_TLS_CERT: set both for mutual TLS")
    if not (settings.tls_ca or settings.tls_cert):
        return None
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca)
        if settings.tls_cert:
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(f for f in (settings.tls_ca, settings.tls_cert, settings.tls_key) if f)
        raise NaqConnectionError(f"cannot load the TLS files ({files}): {exc}") from exc
    return context
