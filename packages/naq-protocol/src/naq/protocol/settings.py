"""naq's settings: every ``NAQ_*`` environment variable, parsed and checked in one place.

``Settings.from_env()`` reads the environment; constructor arguments and CLI flags are applied
over it with ``dataclasses.replace`` (or keyword overrides). A bad value is a
``ConfigurationError`` that names the variable and the value.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self

from naq.protocol.errors import ConfigurationError
from naq.protocol.ids import validate_queue_name
from naq.protocol.names import DEFAULT_DEPENDENCY_TIMEOUT, DEFAULT_QUEUE
from naq.protocol.serializers import SERIALIZER_NAMES
from naq.protocol.signing import SigningKeys, signing_keys

__all__ = ["GIB", "LOG_LEVELS", "Settings", "check_dependency_timeout"]

GIB: Final = 1024**3
"""One gibibyte, the unit of the default storage bounds."""

LOG_LEVELS: Final = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
"""Levels ``NAQ_LOG_LEVEL`` accepts (loguru's)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


# --- parsers: text from the environment -> value (raise ValueError with the reason) -------------


def _text(raw: str) -> str:
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _int(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def _float(raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ValueError("expected a number") from None


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _optional_list(raw: str) -> tuple[str, ...] | None:
    return _list(raw) or None


# --- checks: value -> reason it is wrong, or None ----------------------------------------------


def _positive(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return "must be a number > 0"
    return None


def _at_least(low: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"must be a whole number >= {low}"
        return None

    return check


def _between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}"
        return None

    return check


def _byte_limit(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and value != -1):
        return "must be a positive number of bytes, or -1 for unlimited"
    return None


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _urls(value: Any) -> str | None:
    if not isinstance(value, tuple) or not value:
        return "must name at least one server URL"
    for url in value:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("nats", "tls", "ws", "wss") or not rest:
            return f"{url!r} is not a NATS URL like nats://host:4222"
    return None


def _queue(value: Any) -> str | None:
    try:
        validate_queue_name(value)
    except ValueError as exc:
        return str(exc)
    return None


def _prefixes(value: Any) -> str | None:
    if value is not None and (not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value)):
        return "must be a comma-separated list of module prefixes"
    return None


def _inbox_prefix(value: Any) -> str | None:
    # One or more subject tokens, no wildcards: the user's own inbox subjects begin with it.
    tokens = [] if value is None else value.split(".")
    if value is not None and not all(token and not set(token) & set(" \t*>") for token in tokens):
        return "must be a subject prefix such as _INBOX_worker (tokens without spaces, '*' or '>')"
    return None


def _signing_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be a secret, or comma-separated key_id:secret pairs"
    try:
        signing_keys(value)
    except ConfigurationError as exc:
        return str(exc).removeprefix("NAQ_SIGNING_KEY: ")
    return None


def _optional_positive(value: Any) -> str | None:
    return None if value is None else _positive(value)


def _anything(value: Any) -> str | None:
    return None


def _var(
    env: str,
    default: Any,
    parse: Callable[[str], Any],
    check: Callable[[Any], str | None] = _anything,
    *,
    secret: bool = False,
) -> Any:
    """A settings field bound to environment variable ``env``."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse, "check": check})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything naq can be configured with; defaults are the production values of the brief.

    Durations are seconds; TTLs that become NATS message TTLs are whole seconds.
    """

    # connection
    nats_url: tuple[str, ...] = _var("NAQ_NATS_URL", ("nats://localhost:4222",), _list, _urls)
    nats_user: str | None = _var("NAQ_NATS_USER", None, _optional_text)
    nats_password: str | None = _var("NAQ_NATS_PASSWORD", None, _optional_text, secret=True)
    nats_token: str | None = _var("NAQ_NATS_TOKEN", None, _optional_text, secret=True)
    nats_credentials: str | None = _var("NAQ_NATS_CREDS", None, _optional_text)
    nats_nkey_seed: str | None = _var("NAQ_NATS_NKEY_SEED", None, _optional_text)
    tls_ca: str | None = _var("NAQ_NATS_TLS_CA", None, _optional_text)
    tls_cert: str | None = _var("NAQ_NATS_TLS_CERT", None, _optional_text)
    tls_key: str | None = _var("NAQ_NATS_TLS_KEY", None, _optional_text)
    nats_inbox_prefix: str | None = _var("NAQ_NATS_INBOX_PREFIX", None, _optional_text, _inbox_prefix)
    """Where replies to this process come (nats-py's default ``_INBOX``); one per NATS user keeps
    users from reading each other's replies (docs/security.md)."""
    connect_timeout: float = _var("NAQ_NATS_CONNECT_TIMEOUT", 5.0, _float, _positive)
    # signed jobs (producers and the scheduler sign; workers check)
    signing_key: str | None = _var("NAQ_SIGNING_KEY", None, _optional_text, _signing_key, secret=True)
    """A secret, or comma-separated ``key_id:secret`` pairs (:mod:`naq.protocol.signing`); unset:
    jobs are not signed and workers run unsigned jobs."""
    # producers
    default_queue: str = _var("NAQ_DEFAULT_QUEUE", DEFAULT_QUEUE, _text, _queue)
    job_serializer: str = _var("NAQ_JOB_SERIALIZER", "json", _text, _one_of(SERIALIZER_NAMES))
    default_result_ttl: int = _var("NAQ_DEFAULT_RESULT_TTL", 604_800, _int, _at_least(0))
    job_status_ttl: int = _var("NAQ_JOB_STATUS_TTL", 86_400, _int, _at_least(1))
    dependency_timeout: float = _var("NAQ_DEPENDENCY_TIMEOUT", DEFAULT_DEPENDENCY_TIMEOUT, _float, _positive)
    # workers
    allow_pickle: bool = _var("NAQ_ALLOW_PICKLE", False, _bool)
    allowed_modules: tuple[str, ...] | None = _var("NAQ_ALLOWED_MODULES", None, _optional_list, _prefixes)
    """Module prefixes a worker runs job functions from; unset, a worker refuses to start."""
    allow_any_module: bool = _var("NAQ_ALLOW_ANY_MODULE", False, _bool)
    """Let a worker without ``allowed_modules`` run any module (but the denied ones); logged."""
    ack_wait: float = _var("NAQ_DEFAULT_ACK_WAIT", 30.0, _float, _positive)
    max_ack_pending: int = _var("NAQ_MAX_ACK_PENDING", 1000, _int, _at_least(1))
    worker_heartbeat_interval: float = _var("NAQ_WORKER_HEARTBEAT_INTERVAL", 5.0, _float, _positive)
    worker_ttl: int = _var("NAQ_WORKER_TTL", 15, _int, _at_least(1))
    max_crash_redeliveries: int = _var("NAQ_MAX_CRASH_REDELIVERIES", 3, _int, _at_least(0))
    # scheduler
    scheduler_poll_interval: float = _var("NAQ_SCHEDULER_POLL_INTERVAL", 1.0, _float, _positive)
    scheduler_lock_ttl: int = _var("NAQ_SCHEDULER_LOCK_TTL", 10, _int, _at_least(1))
    scheduler_lock_renew_interval: float = _var("NAQ_SCHEDULER_LOCK_RENEW_INTERVAL", 3.0, _float, _positive)
    max_schedule_failures: int = _var("NAQ_MAX_SCHEDULE_FAILURES", 5, _int, _at_least(1))
    min_schedule_interval: float = _var("NAQ_MIN_SCHEDULE_INTERVAL", 1.0, _float, _positive)
    """Shortest ``interval`` a recurring schedule may have (inclusive); a policy tests may lower."""
    scheduler_alive_file: str | None = _var("NAQ_SCHEDULER_ALIVE_FILE", None, _optional_text)
    """File a scheduler refreshes every tick for ``naq-scheduler --check`` (unset: none; the
    ``naq-scheduler`` command line then uses ``<tmp>/naq-scheduler.alive``)."""
    # storage
    replicas: int = _var("NAQ_REPLICAS", 1, _int, _between(1, 5))
    queue_max_bytes: int = _var("NAQ_QUEUE_MAX_BYTES", GIB, _int, _byte_limit)
    results_max_bytes: int = _var("NAQ_RESULTS_MAX_BYTES", GIB, _int, _byte_limit)
    failed_jobs_max_age: int = _var("NAQ_FAILED_JOBS_MAX_AGE", 30 * 86_400, _int, _at_least(1))
    # logging
    log_level: str = _var("NAQ_LOG_LEVEL", "INFO", lambda raw: raw.strip().upper(), _one_of(LOG_LEVELS))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata["parse"] in (_list, _optional_list) and isinstance(value, str | list):
                # Callers may pass "nats://a,nats://b" or a list where a tuple is stored.
                value = f.metadata["parse"](value) if isinstance(value, str) else tuple(value)
                object.__setattr__(self, f.name, value)
            reason = f.metadata["check"](value)
            if reason is not None:
                shown = "***" if not f.repr else repr(value)
                raise ConfigurationError(f"{f.metadata['env']} ({f.name}) = {shown}: {reason}")
        if self.scheduler_lock_renew_interval >= self.scheduler_lock_ttl:
            raise ConfigurationError(
                "NAQ_SCHEDULER_LOCK_RENEW_INTERVAL must be shorter than NAQ_SCHEDULER_LOCK_TTL "
                f"({self.scheduler_lock_renew_interval} >= {self.scheduler_lock_ttl}), or the leader loses its lock"
            )
        if self.worker_heartbeat_interval >= self.worker_ttl:
            raise ConfigurationError(
                "NAQ_WORKER_HEARTBEAT_INTERVAL must be shorter than NAQ_WORKER_TTL "
                f"({self.worker_heartbeat_interval} >= {self.worker_ttl}), or live workers vanish from the registry"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Settings from ``environ`` (default ``os.environ``), then ``overrides`` (unset: ``None``
        values are skipped, so optional CLI flags can be passed straight through)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = f.metadata["env"]
            if name in env:
                try:
                    values[f.name] = f.metadata["parse"](env[name])
                except ValueError as exc:
                    shown = "***" if not f.repr else repr(env[name])
                    raise ConfigurationError(f"{name} = {shown}: {exc}") from None
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """These settings as ``NAQ_*`` variables, e.g. for a worker subprocess."""
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                env[f.metadata["env"]] = ",".join(value)
            elif isinstance(value, bool):
                env[f.metadata["env"]] = "true" if value else "false"
            else:
                env[f.metadata["env"]] = str(value)
        return env

    @property
    def keys(self) -> SigningKeys | None:
        """The parsed :attr:`signing_key` (cached per value), or ``None`` when jobs are not signed."""
        return None if self.signing_key is None else signing_keys(self.signing_key)

    @property
    def servers(self) -> list[str]:
        """Server URLs as a list, the form NATS clients take."""
        return list(self.nats_url)


def check_dependency_timeout(timeout: float, settings: Settings) -> None:
    """A parked job's waiting status must outlive its wait: ``timeout`` <= ``NAQ_JOB_STATUS_TTL``.

    Checked when a job with ``depends_on`` is enqueued (not in :class:`Settings`, so a short status
    TTL stays valid for deployments that use no dependencies).
    """
    if timeout > settings.job_status_ttl:
        raise ConfigurationError(
            f"dependency_timeout {timeout} s exceeds NAQ_JOB_STATUS_TTL={settings.job_status_ttl} s: "
            "the waiting job's status would expire before it stops waiting"
        )
