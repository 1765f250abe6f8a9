"""Settings: every NAQ_* variable parsed in one place, defaults from the brief, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from naq.protocol import ConfigurationError, Settings
from naq.protocol.settings import GIB

BRIEF_DEFAULTS = {
    "nats_url": ("nats://localhost:4222",),
    "default_queue": "default",
    "job_serializer": "json",
    "allow_pickle": False,
    "allowed_modules": None,
    "default_result_ttl": 604_800,
    "job_status_ttl": 86_400,
    "ack_wait": 30.0,
    "worker_heartbeat_interval": 5.0,
    "worker_ttl": 15,
    "scheduler_poll_interval": 1.0,
    "scheduler_lock_ttl": 10,
    "scheduler_lock_renew_interval": 3.0,
    "max_schedule_failures": 5,
    "replicas": 1,
    "max_crash_redeliveries": 3,
    "queue_max_bytes": GIB,
    "results_max_bytes": GIB,
    "log_level": "INFO",
}


def test_defaults_are_the_briefs() -> None:
    settings = Settings.from_env({})
    assert {name: getattr(settings, name) for name in BRIEF_DEFAULTS} == BRIEF_DEFAULTS


def test_every_variable_is_read() -> None:
    env = {
        "NAQ_NATS_URL": "nats://a:4222, nats://b:4222",
        "NAQ_DEFAULT_QUEUE": "emails",
        "NAQ_JOB_SERIALIZER": "pickle",
        "NAQ_ALLOW_PICKLE": "yes",
        "NAQ_ALLOWED_MODULES": "myapp.tasks, other",
        "NAQ_DEFAULT_RESULT_TTL": "0",
        "NAQ_JOB_STATUS_TTL": "60",
        "NAQ_DEFAULT_ACK_WAIT": "2.5",
        "NAQ_WORKER_HEARTBEAT_INTERVAL": "0.5",
        "NAQ_WORKER_TTL": "2",
        "NAQ_SCHEDULER_POLL_INTERVAL": "0.1",
        "NAQ_SCHEDULER_LOCK_TTL": "2",
        "NAQ_SCHEDULER_LOCK_RENEW_INTERVAL": "0.5",
        "NAQ_MAX_SCHEDULE_FAILURES": "9",
        "NAQ_REPLICAS": "3",
        "NAQ_MAX_CRASH_REDELIVERIES": "0",
        "NAQ_QUEUE_MAX_BYTES": "-1",
        "NAQ_RESULTS_MAX_BYTES": "1048576",
        "NAQ_LOG_LEVEL": "debug",
        "NAQ_NATS_INBOX_PREFIX": "_INBOX_worker",
        "NAQ_NATS_TOKEN": "s3cret",
    }
    settings = Settings.from_env(env)
    assert settings.nats_url == ("nats://a:4222", "nats://b:4222")
    assert settings.servers == ["nats://a:4222", "nats://b:4222"]
    assert settings.default_queue == "emails"
    assert settings.job_serializer == "pickle"
    assert settings.allow_pickle is True
    assert settings.allowed_modules == ("myapp.tasks", "other")
    assert (settings.default_result_ttl, settings.job_status_ttl, settings.ack_wait) == (0, 60, 2.5)
    assert (settings.worker_heartbeat_interval, settings.worker_ttl) == (0.5, 2)
    assert (settings.scheduler_lock_ttl, settings.scheduler_lock_renew_interval) == (2, 0.5)
    assert (settings.replicas, settings.max_crash_redeliveries, settings.max_schedule_failures) == (3, 0, 9)
    assert (settings.queue_max_bytes, settings.results_max_bytes) == (-1, 1_048_576)
    assert settings.log_level == "DEBUG"
    assert settings.nats_inbox_prefix == "_INBOX_worker"
    assert "s3cret" not in repr(settings)


def test_as_env_round_trips() -> None:
    settings = Settings.from_env({}, nats_url="nats://x:1,nats://y:2", allow_pickle=True, nats_token="t")
    assert Settings.from_env(settings.as_env()) == settings


def test_overrides_win_and_none_means_unset() -> None:
    settings = Settings.from_env({"NAQ_DEFAULT_ACK_WAIT": "9"}, ack_wait=3, default_queue=None)
    assert settings.ack_wait == 3
    assert settings.default_queue == "default"
    assert Settings.from_env({}, nats_url=["nats://a:1"]).nats_url == ("nats://a:1",)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("NAQ_DEFAULT_ACK_WAIT", "soon", "expected a number"),
        ("NAQ_DEFAULT_ACK_WAIT", "0", "must be a number > 0"),
        ("NAQ_DEFAULT_ACK_WAIT", "nan", "must be a number > 0"),
        ("NAQ_WORKER_TTL", "1.5", "expected a whole number"),
        ("NAQ_ALLOW_PICKLE", "maybe", "expected true or false"),
        ("NAQ_JOB_SERIALIZER", "yaml", "must be one of json, pickle"),
        ("NAQ_DEFAULT_QUEUE", "bad.queue", "invalid queue name"),
        ("NAQ_DEFAULT_QUEUE", "_sys", "reserved"),
        ("NAQ_NATS_URL", "localhost:4222", "is not a NATS URL"),
        ("NAQ_NATS_URL", " , ", "at least one server"),
        ("NAQ_REPLICAS", "7", "from 1 to 5"),
        ("NAQ_QUEUE_MAX_BYTES", "0", "-1 for unlimited"),
        ("NAQ_DEFAULT_RESULT_TTL", "-1", ">= 0"),
        ("NAQ_LOG_LEVEL", "LOUD", "must be one of"),
        ("NAQ_NATS_INBOX_PREFIX", "_INBOX.>", "must be a subject prefix"),
        ("NAQ_NATS_INBOX_PREFIX", "_INBOX..x", "must be a subject prefix"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({variable: value})
    assert variable in str(info.value)
    assert reason in str(info.value)


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigurationError, match="shorter than NAQ_SCHEDULER_LOCK_TTL"):
        Settings.from_env({"NAQ_SCHEDULER_LOCK_TTL": "2", "NAQ_SCHEDULER_LOCK_RENEW_INTERVAL": "2"})
    with pytest.raises(ConfigurationError, match="shorter than NAQ_WORKER_TTL"):
        Settings.from_env({"NAQ_WORKER_TTL": "1"})


def test_unknown_overrides_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Settings.from_env({}, ack_timeout=3)


def test_every_field_has_one_variable() -> None:
    variables = [f.metadata["env"] for f in dataclasses.fields(Settings)]
    assert len(variables) == len(set(variables))
    assert all(v.startswith("NAQ_") for v in variables)
