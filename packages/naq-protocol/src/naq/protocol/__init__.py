"""naq.protocol: the names, message formats, serializers and settings every naq package shares.

Standard library only. Nothing outside this package spells a NATS name or a record layout.
"""

from naq.protocol._codec import SCHEMA_VERSION, Record
from naq.protocol._version import __version__
from naq.protocol.dependencies import DependencyOutcome, DependencyVerdict, ParkedJobRecord, Verdict
from naq.protocol.errors import (
    ConfigurationError,
    DependencyFailedError,
    JetStreamError,
    JobCancelledError,
    JobExecutionError,
    JobNotFoundError,
    JobRejectedError,
    JobTimeoutError,
    JobTooLargeError,
    MessageTooLargeError,
    NaqConnectionError,
    NaqError,
    NaqException,
    PartialEnqueueError,
    PickleNotAllowedError,
    QueueFullError,
    ResultTooLargeError,
    SerializationError,
    WorkerLostError,
)
from naq.protocol.events import EventRecord
from naq.protocol.heartbeat import WorkerHeartbeat
from naq.protocol.ids import (
    new_job_id,
    validate_job_id,
    validate_queue_name,
    validate_schedule_id,
    validate_worker_id,
)
from naq.protocol.job import RETRY_STRATEGIES, JobEnvelope, RetryStrategy
from naq.protocol.names import (
    ControlCommand,
    EventKind,
    JobStatus,
    MessagePurpose,
    ScheduleStatus,
    SystemEventKind,
    WorkerStatus,
)
from naq.protocol.refs import exception_matches, exception_ref, function_ref, resolve_ref
from naq.protocol.resources import BucketSpec, ConsumerSpec, StreamSpec, config_differences
from naq.protocol.results import (
    ErrorInfo,
    FailedJobRecord,
    ResultRecord,
    ResultStatus,
    UndecodableMessageRecord,
)
from naq.protocol.schedule import LeaderLockRecord, ScheduleRecord
from naq.protocol.serializers import JsonSerializer, PickleSerializer, Serializer, get_serializer
from naq.protocol.settings import Settings
from naq.protocol.signing import RejectReason, SigningKeys
from naq.protocol.sizes import message_size
from naq.protocol.status import JobStatusRecord

__all__ = [
    # version
    "__version__",
    # errors
    "ConfigurationError",
    "DependencyFailedError",
    "JetStreamError",
    "JobCancelledError",
    "JobExecutionError",
    "JobNotFoundError",
    "JobRejectedError",
    "JobTimeoutError",
    "JobTooLargeError",
    "MessageTooLargeError",
    "NaqConnectionError",
    "NaqError",
    "NaqException",
    "PartialEnqueueError",
    "PickleNotAllowedError",
    "QueueFullError",
    "ResultTooLargeError",
    "SerializationError",
    "WorkerLostError",
    # ids
    "new_job_id",
    "validate_job_id",
    "validate_queue_name",
    "validate_schedule_id",
    "validate_worker_id",
    # enumerations (constants and subject builders: naq.protocol.names, naq.protocol.subjects)
    "ControlCommand",
    "EventKind",
    "JobStatus",
    "MessagePurpose",
    "ScheduleStatus",
    "SystemEventKind",
    "WorkerStatus",
    # records
    "SCHEMA_VERSION",
    "ErrorInfo",
    "EventRecord",
    "FailedJobRecord",
    "JobEnvelope",
    "JobStatusRecord",
    "LeaderLockRecord",
    "ParkedJobRecord",
    "RETRY_STRATEGIES",
    "Record",
    "ResultRecord",
    "ResultStatus",
    "RetryStrategy",
    "ScheduleRecord",
    "UndecodableMessageRecord",
    "WorkerHeartbeat",
    # dependencies
    "DependencyOutcome",
    "DependencyVerdict",
    "Verdict",
    # serializers and references
    "JsonSerializer",
    "PickleSerializer",
    "Serializer",
    "exception_matches",
    "exception_ref",
    "function_ref",
    "get_serializer",
    "resolve_ref",
    # signed jobs
    "RejectReason",
    "SigningKeys",
    # resources and settings
    "BucketSpec",
    "ConsumerSpec",
    "Settings",
    "StreamSpec",
    "config_differences",
    "message_size",
]
