"""Plain-text accounts of one failed job (its dead-letter record) and of one job (``job_info``).

Plain text, shown without markup: tracebacks and arguments are full of brackets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from textual.widgets import Static

from naq.client import FailedEntry, JobInfo
from naq.protocol import ErrorInfo, FailedJobRecord, JobEnvelope, SerializationError, get_serializer

__all__ = ["DetailText", "failed_text", "job_text", "utc"]


def utc(at: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS UTC``; ``-`` for none."""
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(value: object) -> str:
    return json.dumps(value, default=repr)


def arguments_text(job: JobEnvelope) -> str:
    """``args`` and ``kwargs`` of a JSON job; a pickle job's are not unpickled (that would run the
    producer's code here)."""
    if job.serializer != "json":
        return f"({job.serializer} job: arguments not shown)"
    try:
        _, args, kwargs = get_serializer("json").load_call(job.payload)
    except SerializationError as exc:
        return f"(unreadable: {exc})"
    return f"args={_json(args)} kwargs={_json(kwargs)}"


def _fields(pairs: list[tuple[str, object]]) -> list[str]:
    width = max(len(name) for name, _ in pairs) + 2
    return [f"{name + ':':<{width}}{value}" for name, value in pairs]


def _error_lines(error: ErrorInfo | None) -> list[str]:
    if error is None:
        return []
    lines = [f"error: {error.type}: {error.message}"]
    if error.traceback.strip():
        lines += ["", error.traceback.rstrip()]
    return lines


def failed_text(entry: FailedEntry) -> str:
    """A dead-letter record in full: the job, its arguments, the error and its traceback."""
    record = entry.record
    if isinstance(record, FailedJobRecord):
        pairs: list[tuple[str, object]] = [
            ("id", entry.id),
            ("queue", entry.queue),
            ("function", record.job.function),
            ("attempts", record.attempts),
            ("failed at", utc(record.failed_at)),
            ("worker", record.worker_id or "-"),
            ("arguments", arguments_text(record.job)),
        ]
    else:
        pairs = [
            ("id", entry.id),
            ("queue", entry.queue),
            ("kind", "undecodable message (not a job)"),
            ("subject", record.subject),
            ("size", "-" if record.original_size is None else f"{record.original_size} bytes"),
            ("failed at", utc(record.failed_at)),
        ]
    return "\n".join([*_fields(pairs), *_error_lines(record.error)])


def _result_value(info: JobInfo) -> str | None:
    if info.result is None or info.result.status != "completed":
        return None
    return _json(info.result.value)


def job_text(info: JobInfo) -> str:
    """What :func:`naq.client.job_info` found: status, times, result or error, dependencies."""
    pairs: list[tuple[str, object]] = [
        ("job", info.job_id),
        ("status", str(info.status)),
        ("queue", info.queue or "-"),
        ("function", info.function or "-"),
        ("attempts", info.attempts),
        ("enqueued", utc(info.enqueued_at)),
        ("started", utc(info.started_at)),
        ("finished", utc(info.finished_at)),
    ]
    if info.run_at is not None:
        pairs.append(("runs at", utc(info.run_at)))
    pairs.append(("worker", info.worker_id or "-"))
    if info.job is not None:
        pairs.append(("arguments", arguments_text(info.job)))
    value = _result_value(info)
    if value is not None:
        pairs.append(("result", value))
    lines = _fields(pairs)
    if info.dependencies:
        lines += ["", "dependencies:"] + [f"  {dep}: {status}" for dep, status in info.dependencies.items()]
    if info.waiting_on:
        lines.append(f"waiting on: {', '.join(info.waiting_on)}")
    errors = _error_lines(info.error)
    return "\n".join([*lines, *([""] if errors else []), *errors])


class DetailText(Static):
    """A block of plain text (no markup), as long as it needs to be; put it in a scrolling container."""

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, markup=False, id=id)

    @property
    def text(self) -> str:
        """The text shown."""
        return str(self.content)
