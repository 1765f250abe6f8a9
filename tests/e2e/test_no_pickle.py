"""No pickle anywhere but the job payloads and results that chose it (issue 13).

A real run on the session server produces every record kind: a worker runs jobs that succeed (JSON
and pickle), fail and retry, fail for good, get cancelled while running, depend on another, are
delayed or recurring (a scheduler fires them); a message that is not a job is dead-lettered. Every
message published on naq's subjects during the run (``naq.>``, ``$KV.>``: jobs, events, control
commands, every KV write) is captured as it goes by, and every stream naq owns is read raw at the
end. Each message must be empty (a marker, a control command) or a JSON record; no message and
no string inside one may be pickle, except a job's ``payload`` and a result's ``value`` in a
record whose ``serializer`` says ``pickle``. The completeness check: the kinds seen are every
record kind :mod:`naq.protocol` defines.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.js.errors

from harness.jobs import add, always_fail, async_sleep, fail_times, record_run, runs
from harness.waiting import async_wait_for
from harness.worker_runner import WorkerRunner
from naq.client import JobExecutionError, JobStatus, Queue, Settings
from naq.protocol import Record
from naq.scheduler import Scheduler

ALLOWED = ("harness",)
"""Modules the worker of this test may run (the test jobs)."""

GARBAGE = b"this is not a job"
"""The message published on a queue subject that is not a job (dead-lettered raw)."""

PICKLE_MARK = b"\x80"
"""How a pickle (protocol 2 and later) begins."""

NESTED_ONLY = {"error"}
"""Record kinds never written on their own (``ErrorInfo`` travels inside other records)."""


def record_kinds() -> set[str]:
    """The ``KIND`` of every record class naq.protocol defines."""
    kinds, todo = set(), list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("naq.protocol"):
            kinds.add(cls.KIND)
    return kinds


def strings(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, dict[str, Any] | None]]:
    """Every string inside ``value`` with its path and the object that holds it."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield (*path, key), item, value
            else:
                yield from strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield (*path, str(i)), item, None
            else:
                yield from strings(item, (*path, str(i)))


def is_pickle(text: str) -> bool:
    """Whether ``text`` is base64 of a pickle (the way naq carries pickle in JSON)."""
    if len(text) < 8:
        return False
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(PICKLE_MARK) and raw.endswith(b".")


def declared(path: tuple[str, ...], holder: dict[str, Any] | None) -> bool:
    """Whether a pickle at ``path`` is one the record declares: a pickle job's payload (a job on its
    own or nested in another record) or a pickle result's value."""
    if holder is None or holder.get("serializer") != "pickle":
        return False
    if path[-1] == "payload":
        return "function" in holder  # a job envelope
    return path == ("value",) and holder.get("record") == "result"


class Audit:
    """Messages checked, kinds seen, and the declared pickles found."""

    def __init__(self) -> None:
        self.checked = 0
        self.kinds: set[str] = set()
        self.pickled: list[tuple[str, tuple[str, ...]]] = []
        self.problems: list[str] = []

    def check(self, where: str, data: bytes) -> None:
        self.checked += 1
        if not data or data == GARBAGE:
            return  # markers, control commands; the test's own garbage
        if data.startswith(PICKLE_MARK):
            self.problems.append(f"{where}: a pickled message")
            return
        try:
            obj = json.loads(data)
        except ValueError:
            self.problems.append(f"{where}: not JSON: {data[:80]!r}")
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("record"), str):
            self.problems.append(f"{where}: not a naq record: {data[:80]!r}")
            return
        self.kinds.add(obj["record"])
        for path, text, holder in strings(obj):
            if not is_pickle(text):
                continue
            if declared(path, holder):
                self.pickled.append((obj["record"], path))
            else:
                self.problems.append(f"{where}: pickle at {'.'.join(path)} of a {obj['record']} record")


async def read_streams(js: Any, audit: Audit) -> int:
    """Check every message now stored in every stream; returns how many streams."""
    streams = await js.streams_info()
    for stream in streams:
        state = stream.state
        for sequence in range(state.first_seq, state.last_seq + 1):
            try:
                message = await js.get_msg(stream.config.name, sequence)
            except nats.js.errors.NotFoundError:
                continue  # deleted or expired
            audit.check(f"{stream.config.name}#{sequence} ({message.subject})", message.data or b"")
    return len(streams)


async def test_no_record_event_or_command_is_pickled_only_declared_payloads_and_values(
    run_worker: WorkerRunner, test_settings: Settings, js: Any, nc: Any, tmp_path: Path
) -> None:
    directory = str(tmp_path)
    audit = Audit()

    async def on_message(message: Any) -> None:
        audit.check(f"published on {message.subject}", message.data)

    for subject in ("naq.>", "$KV.>"):
        await nc.subscribe(subject, cb=on_message)
    await nc.flush()

    queue = Queue(settings=test_settings)
    scheduler = Scheduler(settings=test_settings, poll_interval=0.1)
    scheduling = asyncio.create_task(scheduler.run(install_signal_handlers=False))
    try:
        async with run_worker(concurrency=4, allowed_modules=ALLOWED, allow_pickle=True):
            ok = await queue.enqueue(add, 1, 2)
            pickled = await queue.enqueue(add, 3, 4, serializer="pickle")
            retried = await queue.enqueue(fail_times, directory, "retry", 1, max_retries=2, retry_delay=0)
            failed = await queue.enqueue(always_fail, directory, "fail")
            pickled_failure = await queue.enqueue(always_fail, directory, "pfail", serializer="pickle")
            parent = await queue.enqueue(record_run, directory, "parent", 0.5)
            child = await queue.enqueue(add, 5, 6, depends_on=[parent])
            later = await queue.enqueue_in(0.3, add, 7, 8)
            recurring = await queue.schedule(add, 1, 1, interval=0.2, repeat=2)
            long = await queue.enqueue(async_sleep, 30)
            await js.publish("naq.queue.default", GARBAGE)

            assert await ok.result(timeout=15) == 3
            assert await pickled.result(timeout=15, allow_pickle=True) == 7  # the reader opts in too
            assert await retried.result(timeout=15) == "done"
            for job in (failed, pickled_failure):
                try:
                    await job.result(timeout=15)
                except JobExecutionError:
                    pass
                else:
                    raise AssertionError(f"{job.job_id} should have failed")
            assert await child.result(timeout=15) == 11
            assert await later.result(timeout=15) == 15
            await async_wait_for(
                lambda: _running(long), timeout=10, interval=0.1, what="the long job taken by the worker"
            )
            assert await long.cancel()
            await async_wait_for(
                lambda: _is(long, JobStatus.CANCELLED), timeout=10, interval=0.1, what="the long job cancelled"
            )
            await async_wait_for(
                lambda: _no_schedule(queue, recurring.schedule_id), timeout=10, interval=0.1, what="2 runs fired"
            )
            assert len(runs(directory, "retry")) == 2
    finally:
        scheduler.request_stop()
        await asyncio.wait_for(scheduling, timeout=15)

    streams = await read_streams(js, audit)
    assert not audit.problems, "\n".join(audit.problems)
    assert audit.kinds == record_kinds() - NESTED_ONLY, audit.kinds
    assert streams >= 9, "every naq stream and bucket was read"
    # The pickle result and the pickle jobs carry pickle, each in its declared field.
    assert ("result", ("value",)) in audit.pickled
    assert ("job", ("payload",)) in audit.pickled
    assert ("failed_job", ("job", "payload")) in audit.pickled
    assert audit.checked > 100


async def _running(job: Any) -> bool:
    return await job.status() == JobStatus.RUNNING


async def _is(job: Any, status: JobStatus) -> bool:
    return await job.status() == status


async def _no_schedule(queue: Queue, schedule_id: str) -> bool:
    return all(s.schedule_id != schedule_id for s in await queue.list_scheduled_jobs())


def test_the_audit_catches_pickle_that_no_record_declares() -> None:
    """The check above can fail: raw pickle, pickle in an event, in a json result, in a schedule."""
    import pickle

    blob = base64.b64encode(pickle.dumps({"a": 1})).decode()
    audit = Audit()
    audit.check("raw", pickle.dumps([1, 2]))
    audit.check("event", json.dumps({"v": 1, "record": "event", "data": {"error": blob}}).encode())
    audit.check("json result", json.dumps({"v": 1, "record": "result", "serializer": "json", "value": blob}).encode())
    schedule = {"v": 1, "record": "schedule", "job": {"function": "m:f", "payload": blob}}
    audit.check("schedule", json.dumps(schedule).encode())
    assert [problem.split(":")[0] for problem in audit.problems] == ["raw", "event", "json result", "schedule"]
    declared_ok = Audit()
    result = {"v": 1, "record": "result", "serializer": "pickle", "value": blob}
    declared_ok.check("pickle result", json.dumps(result).encode())
    assert not declared_ok.problems
    assert declared_ok.pickled == [("result", ("value",))]
