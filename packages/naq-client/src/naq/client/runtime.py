"""naq's service runtime: what the worker, the scheduler and the monitor build on.

This is the one module of naq-client that naq's own packages (naq-worker, naq-scheduler, naq-tui)
import, and the only one besides the user API (``naq.client``, ``naq.client.testing``) whose names
are a contract. Those packages pin naq-client exactly, so a name here may change between naq
releases together with them; application code should prefer ``naq.client``. No package other than
naq-client imports a private ``naq.client._*`` module (a test in the suite checks it).

What it holds, by concern:

- **connections**: :class:`Connection` (a NATS connection, its JetStream context and naq's caches),
  :func:`get_connection` (one per event loop and settings), :func:`close_connections`,
  :func:`resolve_settings` (URL and settings arguments over the environment);
- **resources**: :func:`ensure_stream`, :func:`ensure_bucket`, :func:`ensure_queue_consumer`
  (create or bring to naq's spec once per connection), :func:`kv_value` (a direct get);
- **publishing**: the job publish path, which every publish of a job goes through (message id,
  server-side delay, size check): :func:`publish_job` (one job, first or later publish) and
  :func:`publish_jobs` (new jobs onto their queues: pipelined, dependencies gated, announced);
  :func:`publish_acked` (any other message, awaiting its ack, size-checked), :func:`publish_event`
  and :func:`publish_system_event` (fire-and-forget events);
- **stored state**: :func:`read_result_record`, :func:`kv_write_if` (a compare-and-set write with
  an optional per-key TTL), :class:`KeyWatch` (every entry of a bucket, current keys first), the
  schedule store (:func:`schedules_kv`, :func:`read_schedule`, :func:`delete_schedule`,
  :func:`template_refusal`: whether a schedule's signed job template may be run) and the
  schedule cadence (:class:`Cadence`, :func:`interval_too_short`);
- **dependencies**: the parked-dependent store and its verdicts, shared by the producer (which
  parks) and the worker (which releases): :func:`dependency_states`, :func:`decide`, :func:`park`,
  :func:`parked_on`, :func:`parked_record`, :func:`delete_waiting`, :func:`dependency_ended`,
  :func:`release`;
- **tasks and signals**: :func:`stop_task`, :func:`stop_tasks`, :func:`stop_signals`;
- **command lines**: the options, settings and exit codes every naq CLI shares
  (:data:`NatsUrlOption`, :data:`LogLevelOption`, :data:`TYPER_SETTINGS`, :func:`cli_settings`,
  :func:`run_command`, :func:`closing`, :data:`EXIT_CONFIG`, ...).
"""

from naq.client._acks import publish_acked
from naq.client._cadence import Cadence, interval_too_short
from naq.client._cli_common import (
    EXIT_CONFIG,
    EXIT_CONNECTION,
    EXIT_FAILED,
    TYPER_SETTINGS,
    LogLevelOption,
    NatsUrlOption,
    cli_settings,
    closing,
    configure_logging,
    run_command,
)
from naq.client._connection import Connection, close_connections, get_connection
from naq.client._dependencies import (
    decide,
    delete_waiting,
    dependency_ended,
    dependency_states,
    park,
    parked_on,
    parked_record,
    release,
)
from naq.client._enqueue import publish_jobs
from naq.client._events import publish_event, publish_system_event
from naq.client._kv_cas import kv_write_if
from naq.client._publish import publish_job
from naq.client._queue import resolve_settings
from naq.client._resources import ensure_bucket, ensure_queue_consumer, ensure_stream, kv_value
from naq.client._results import read_result_record
from naq.client._schedule_store import delete_schedule, read_schedule, schedules_kv, template_refusal
from naq.client._tasks import pid_alive, stop_signals, stop_task, stop_tasks
from naq.client._watch import KeyWatch

__all__ = [
    # connections
    "Connection",
    "close_connections",
    "get_connection",
    "resolve_settings",
    # resources
    "ensure_bucket",
    "ensure_queue_consumer",
    "ensure_stream",
    "kv_value",
    # publishing
    "publish_acked",
    "publish_job",
    "publish_jobs",
    "publish_event",
    "publish_system_event",
    # stored state
    "Cadence",
    "KeyWatch",
    "delete_schedule",
    "interval_too_short",
    "kv_write_if",
    "read_result_record",
    "read_schedule",
    "schedules_kv",
    "template_refusal",
    # dependencies
    "decide",
    "delete_waiting",
    "dependency_ended",
    "dependency_states",
    "park",
    "parked_on",
    "parked_record",
    "release",
    # tasks and signals
    "pid_alive",
    "stop_signals",
    "stop_task",
    "stop_tasks",
    # command lines
    "EXIT_CONFIG",
    "EXIT_CONNECTION",
    "EXIT_FAILED",
    "LogLevelOption",
    "NatsUrlOption",
    "TYPER_SETTINGS",
    "cli_settings",
    "closing",
    "configure_logging",
    "run_command",
]
