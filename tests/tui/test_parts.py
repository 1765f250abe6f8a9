"""The monitor's pure parts, without a server: rates from successive reads, the sparkline, the
relative times of the schedules, the event log's filter, line and rate cap, and the connection
states of the status bar."""

from __future__ import annotations

from textual.app import App, ComposeResult

from naq.client import EventRecord, QueueStats, WorkerHeartbeat
from naq.tui.rates import RateTracker
from naq.tui.widgets import EventFilter, EventLog
from naq.tui.widgets.event_log import LINES_PER_SECOND, event_line
from naq.tui.widgets.status_bar import RECONNECT_GRACE, ConnectionState
from naq.tui.widgets.tables import relative, sparkline

T0 = 1_800_000_000.0


def _stats(queue: str, at: float, acknowledged: int) -> QueueStats:
    return QueueStats(queue, 0, 0, 0, 0, 0, 0, 1, 1, None, at, delivered=acknowledged, acknowledged=acknowledged)


def _beat(worker_id: str, started: float, done: int, failed: int = 0) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        worker_id=worker_id,
        hostname="h",
        pid=1,
        queues=("q",),
        status="busy",
        concurrency=1,
        started_at=started,
        heartbeat_at=started,
        processed=done,
        failed=failed,
        processed_by_queue={"q": done},
        failed_by_queue={"q": failed} if failed else {},
    )


def test_rates_count_each_workers_growth_over_the_window() -> None:
    tracker = RateTracker(window=60.0)
    first = tracker.update(T0, [_stats("q", T0, 0)], [_beat("a", T0, 100)])
    assert (first["q"].completed, first["q"].failed, first["q"].throughput) == (0.0, 0.0, ())  # a baseline only
    rates = tracker.update(T0 + 10, [_stats("q", T0 + 10, 50)], [_beat("a", T0, 150, failed=10)])
    assert rates["q"].completed == 5.0  # 50 more in 10 s; the 100 from before the first read don't count
    assert rates["q"].failed == 1.0
    assert rates["q"].throughput == (5.0,)


def test_a_new_or_restarted_worker_starts_from_its_own_baseline() -> None:
    tracker = RateTracker()
    tracker.update(T0, [_stats("q", T0, 0)], [_beat("a", T0, 500)])
    # "a" restarted (new start time, counters from 0), "b" appeared with 70 done elsewhere.
    rates = tracker.update(T0 + 10, [_stats("q", T0 + 10, 0)], [_beat("a", T0 + 5, 20), _beat("b", T0, 70)])
    assert rates["q"].completed == 0.0
    rates = tracker.update(T0 + 20, [_stats("q", T0 + 20, 0)], [_beat("a", T0 + 5, 40), _beat("b", T0, 90)])
    assert rates["q"].completed == 2.0  # 40 more over the 20 s since the first read


def test_the_window_drops_old_samples_and_a_consumer_made_anew_gives_no_negative_throughput() -> None:
    tracker = RateTracker(window=10.0, history=3)
    for n in range(6):
        at = T0 + 5 * n
        rates = tracker.update(at, [_stats("q", at, 100 * n if n < 4 else 7)], [_beat("a", T0, 10 * n)])
    assert rates["q"].completed == 2.0  # the last 10 s: 20 more
    assert rates["q"].throughput == (20.0, 0.0, 0.0)  # at most 3 kept; the floor went back: 0, not < 0


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([]) == ""
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([0.0, 5.0, 10.0]) == "▁▅█"
    assert len(sparkline([1.0] * 50, width=20)) == 20


def test_relative_times_keep_two_units_and_say_late() -> None:
    assert relative(0) == "in 0s"
    assert relative(5.4) == "in 5s"
    assert relative(182) == "in 3m 2s"
    assert relative(3600) == "in 1h"
    assert relative(7500) == "in 2h 5m"
    assert relative(3 * 86_400 + 4 * 3_600 + 59) == "in 3d 4h"
    assert relative(-12) == "12s late"


def _event(kind: str, queue: str = "q", **data: object) -> EventRecord:
    return EventRecord(kind=kind, queue=queue, at=T0, job_id="j1", worker_id="w1", data=dict(data))


def test_the_event_filter_matches_queue_kind_and_function() -> None:
    failed = _event("failed", error_type="mod:Boom", error="it broke")
    enqueued = _event("enqueued", function="tasks:send")
    assert EventFilter().matches(failed)
    assert not EventFilter().matches(_event("started")), "started events only when asked for"
    assert EventFilter(kind="all").matches(_event("started"))
    assert EventFilter(kind="started").matches(_event("started"))
    quiet = EventFilter().kinds
    assert quiet is not None
    assert "started" not in quiet
    assert {"completed", "failed", "worker_started"} <= set(quiet)
    assert EventFilter(kind="all").kinds is None
    assert EventFilter(kind="failed").matches(failed)
    assert not EventFilter(kind="failed").matches(enqueued)
    assert not EventFilter(queue="other").matches(failed)
    assert EventFilter(function="tasks:send").matches(enqueued)
    assert not EventFilter(function="tasks:send").matches(failed)  # it carries no function
    assert EventFilter.from_fields({"queue": "q", "kind": "failed"}).describe() == "kind=failed, queue=q"
    assert EventFilter().describe() == "every kind but started"
    assert EventFilter(kind="all").describe() == "every kind"


def test_an_event_line_names_the_jobs_worker_and_error() -> None:
    line = event_line(_event("failed", error_type="mod:Boom", error="it\nbroke"))
    assert line.split("  ") == ["08:00:00", "q", "failed", "j1", "worker w1", "Boom: it broke"]
    batch = EventRecord(kind="completed", queue="q", at=T0, data={"job_ids": ["a", "b", "c"]})
    assert event_line(batch).split("  ")[3] == "3 jobs"


class _LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EventLog(id="log")


async def test_the_log_writes_at_most_its_cap_a_second_and_counts_the_rest() -> None:
    app = _LogApp()
    async with app.run_test() as pilot:
        log = app.query_one(EventLog)
        for _ in range(LINES_PER_SECOND + 30):
            log.add(_event("started"))
        log.tick()
        log.add(_event("completed"))
        assert len(log.lines) == LINES_PER_SECOND + 1, "the last line is queued until the next flush"
        log.flush()
        await pilot.pause()
        lines = [str(line) for line in log.lines]
        assert len(lines) == LINES_PER_SECOND + 2
        assert lines[LINES_PER_SECOND] == f"... 30 events skipped (more than {LINES_PER_SECOND} a second)"
        assert "completed" in lines[-1]


def test_connection_states() -> None:
    assert ConnectionState("u").label == "connecting"
    assert ConnectionState("u", connected=True, updated_at=T0).label == "connected"
    failing = ConnectionState("u", error="boom", updated_at=T0, checked_at=T0 + RECONNECT_GRACE - 1)
    assert failing.label == "reconnecting"
    assert ConnectionState("u", error="boom", updated_at=T0, checked_at=T0 + RECONNECT_GRACE + 1).label == "lost"
    assert ConnectionState("u", error="boom").label == "lost"
