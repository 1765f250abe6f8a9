"""Every public module's ``__all__`` is pinned: a name added or removed is a decision, made here.

In the spirit of httpx's ``test_exported_members``: the pinned set must equal ``__all__``, every name
in it must resolve, and none may appear twice.
"""

from __future__ import annotations

import importlib

import pytest

EXPORTED: dict[str, frozenset[str]] = {
    "naq.protocol": frozenset(
        {
            "BucketSpec",
            "ConfigurationError",
            "ConsumerSpec",
            "ControlCommand",
            "DependencyFailedError",
            "DependencyOutcome",
            "DependencyVerdict",
            "ErrorInfo",
            "EventKind",
            "EventRecord",
            "FailedJobRecord",
            "JetStreamError",
            "JobCancelledError",
            "JobEnvelope",
            "JobExecutionError",
            "JobNotFoundError",
            "JobStatus",
            "JobStatusRecord",
            "JobTooLargeError",
            "JsonSerializer",
            "LeaderLockRecord",
            "MessagePurpose",
            "MessageTooLargeError",
            "NaqConnectionError",
            "NaqError",
            "NaqException",
            "ParkedJobRecord",
            "PartialEnqueueError",
            "PickleSerializer",
            "QueueFullError",
            "RETRY_STRATEGIES",
            "Record",
            "ResultRecord",
            "ResultStatus",
            "ResultTooLargeError",
            "RetryStrategy",
            "SCHEMA_VERSION",
            "ScheduleRecord",
            "ScheduleStatus",
            "SerializationError",
            "Serializer",
            "Settings",
            "StreamSpec",
            "SystemEventKind",
            "UndecodableMessageRecord",
            "Verdict",
            "WorkerHeartbeat",
            "WorkerStatus",
            "__version__",
            "config_differences",
            "exception_matches",
            "exception_ref",
            "function_ref",
            "get_serializer",
            "message_size",
            "new_job_id",
            "resolve_ref",
            "validate_job_id",
            "validate_queue_name",
            "validate_schedule_id",
            "validate_worker_id",
        }
    ),
    "naq.client": frozenset(
        {
            "ConfigurationError",
            "DependencyFailedError",
            "Job",
            "JetStreamError",
            "JobCancelledError",
            "JobExecutionError",
            "JobNotFoundError",
            "JobStatus",
            "JobTooLargeError",
            "MessageTooLargeError",
            "NaqConnectionError",
            "NaqError",
            "NaqException",
            "PartialEnqueueError",
            "Queue",
            "QueueFullError",
            "ResultTooLargeError",
            "ScheduleRecord",
            "ScheduleStatus",
            "ScheduledJob",
            "SerializationError",
            "Settings",
            "SyncJob",
            "SyncScheduledJob",
            "WorkerHeartbeat",
            "__version__",
            "cancel_job",
            "cancel_job_sync",
            "cancel_scheduled_job",
            "cancel_scheduled_job_sync",
            "close",
            "connect",
            "connect_sync",
            "disconnect",
            "disconnect_sync",
            "enqueue",
            "enqueue_at",
            "enqueue_at_sync",
            "enqueue_in",
            "enqueue_in_sync",
            "enqueue_many",
            "enqueue_many_sync",
            "enqueue_sync",
            "fetch_job_result",
            "fetch_job_result_sync",
            "list_scheduled_jobs",
            "list_scheduled_jobs_sync",
            "list_workers",
            "list_workers_sync",
            "modify_scheduled_job",
            "modify_scheduled_job_sync",
            "pause_scheduled_job",
            "pause_scheduled_job_sync",
            "purge_queue",
            "purge_queue_sync",
            "resume_scheduled_job",
            "resume_scheduled_job_sync",
            "run_scheduled_job_now",
            "run_scheduled_job_now_sync",
            "schedule",
            "schedule_sync",
        }
    ),
    "naq.client.runtime": frozenset(
        {
            "Cadence",
            "Connection",
            "EXIT_CONFIG",
            "EXIT_CONNECTION",
            "EXIT_FAILED",
            "KeyWatch",
            "LogLevelOption",
            "NatsUrlOption",
            "TYPER_SETTINGS",
            "cli_settings",
            "closing",
            "close_connections",
            "configure_logging",
            "decide",
            "delete_schedule",
            "delete_waiting",
            "dependency_ended",
            "dependency_states",
            "ensure_bucket",
            "ensure_queue_consumer",
            "ensure_stream",
            "get_connection",
            "interval_too_short",
            "kv_value",
            "kv_write_if",
            "park",
            "parked_on",
            "parked_record",
            "publish_acked",
            "publish_job",
            "publish_jobs",
            "publish_event",
            "publish_system_event",
            "read_result_record",
            "read_schedule",
            "release",
            "resolve_settings",
            "run_command",
            "schedules_kv",
            "stop_signals",
            "stop_task",
            "stop_tasks",
        }
    ),
    "naq.client.testing": frozenset(
        {
            "InlineRunner",
            "active_runner",
            "inline_jobs",
        }
    ),
    "naq.worker": frozenset(
        {
            "Hook",
            "JobContext",
            "JobTimeoutError",
            "Worker",
            "WorkerLostError",
            "__version__",
        }
    ),
    "naq.scheduler": frozenset(
        {
            "Scheduler",
            "__version__",
        }
    ),
    "naq.tui": frozenset(
        {
            "__version__",
        }
    ),
}


@pytest.mark.parametrize("module_name", sorted(EXPORTED))
def test_exported_members(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "a name is listed twice in __all__"
    assert set(exported) == EXPORTED[module_name]
    for name in exported:
        assert getattr(module, name) is not None, f"{module_name}.{name} does not resolve"
