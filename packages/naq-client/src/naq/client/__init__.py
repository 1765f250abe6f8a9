"""naq.client: enqueue Python function calls on NATS JetStream, schedule them, read their results."""

from naq.client._version import __version__
from naq.protocol.errors import (
    ConfigurationError,
    JobExecutionError,
    JobNotFoundError,
    NaqConnectionError,
    NaqError,
    NaqException,
    QueueFullError,
    SerializationError,
)

__all__ = [
    "__version__",
    # errors
    "ConfigurationError",
    "JobExecutionError",
    "JobNotFoundError",
    "NaqConnectionError",
    "NaqError",
    "NaqException",
    "QueueFullError",
    "SerializationError",
]
