"""naq's benchmarks, each beside the same measurement made with raw nats-py in the same run.

    python tests/benchmarks/run.py [--runs 3] [--jobs 10000] [--latency-jobs 500] [--concurrency 100]
    hatch run bench:run [ARGS...]

Starts its own nats-server (JetStream, 127.0.0.1, random port, store in a temporary directory)
and prints one JSON line per measurement to stdout; progress goes to stderr.

Benchmarks (see docs/benchmarks.md):

- ``enqueue_bulk``: jobs/s enqueuing ``--jobs`` noop jobs. naq: ``Queue.enqueue_many``;
  raw: ``js.publish_async`` of a payload of the same size with a ``Nats-Msg-Id`` header, then
  awaiting every publish ack.
- ``e2e_throughput``: jobs/s from the first enqueue until all ``--jobs`` results are stored, through
  one worker process. naq: a ``naq-worker default --concurrency N`` subprocess; raw: a
  ``bench_raw_worker.py`` subprocess (pull fetch in batches, KV put of a result, ack). Both are
  observed the same way: one core subscription on ``$KV.<bucket>.>`` collecting distinct job ids,
  checked against the enqueued ids afterwards.
- ``round_trip``: p50/p99 in ms of enqueue -> result for ``--latency-jobs`` sequential jobs. naq:
  ``await queue.enqueue(...)`` then ``await job.result()``; raw: subscribe to the result key's
  subject, ``js.publish`` the job, wait for the result message.

Per run, the naq and raw lines are followed by a ``comparison`` line (ratio naq/raw); after all
runs a ``summary`` line per benchmark holds the medians and the ratio of the medians. The order of
naq and raw alternates between runs. Every wait has a deadline; every process this script starts
is stopped at the end, on error too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import nats  # noqa: E402
import nats.errors  # noqa: E402
import nats.js.errors  # noqa: E402

from harness.jetstream_api import delete_all_streams  # noqa: E402
from harness.processes import console_script  # noqa: E402
from harness.servers import NatsServer, nats_server_binary  # noqa: E402
from naq.client import Queue, close  # noqa: E402
from naq.client._options import JobOptions, build_envelope  # noqa: E402
from naq.protocol import Settings, names  # noqa: E402

NOOP = "harness.jobs:noop"
RAW_STREAM = "raw_jobs"
RAW_SUBJECT_PREFIX = "raw.jobs"
RAW_CONSUMER = "raw-worker"
RAW_BUCKET = "raw_results"


def naq_payload_size() -> int:
    """Bytes of a noop job's naq envelope (JSON), as ``enqueue`` builds it: the raw job payload is
    padded to this size, so both sides move the same bytes."""
    envelope = build_envelope(NOOP, (), {}, JobOptions(), "default", Settings.from_env({}))
    return len(envelope.encode())


NAQ_PAYLOAD_SIZE = naq_payload_size()

WARMUP_JOBS = 200
LATENCY_WARMUP = 20
E2E_DEADLINE = 180.0
"""Deadline for all results of one end-to-end measurement."""

# --- output ----------------------------------------------------------------------------------------


def emit(**fields: Any) -> None:
    """One JSON line on stdout."""
    print(json.dumps(fields), flush=True)


def note(text: str) -> None:
    """Progress, on stderr (stdout is JSON lines only)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def rounded(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}") if abs(value) < 1 else round(value, digits)


# --- processes -------------------------------------------------------------------------------------


class Processes:
    """Subprocesses with their output in log files; every one is stopped on close."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = self.log_dir / f"{name}-{len(self.running)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.running.append(process)
        return process, log_path

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if process in self.running:
            self.running.remove(process)

    def close(self) -> None:
        for process in list(self.running):
            self.stop(process)


@contextlib.contextmanager
def running(
    processes: Processes, name: str, command: list[str], env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    process, log_path = processes.spawn(name, command, env)
    try:
        yield process, log_path
    except BaseException:
        note(f"{name} log tail:\n{tail(log_path)}")
        raise
    finally:
        processes.stop(process)
        if process.returncode not in (0, -signal.SIGTERM):
            note(f"{name} exited with {process.returncode}; log tail:\n{tail(log_path)}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU used by some processes between :meth:`start` and :meth:`stop`, in microseconds per job."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.before: dict[str, float | None] = {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self, jobs: int) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            before, after = self.before.get(name), cpu_seconds(pid)
            if before is not None and after is not None:
                out[f"{name}_cpu_us_per_job"] = round((after - before) / jobs * 1e6, 1)
        return out


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the server side helpers -----------------------------------------------------------------------


async def create_raw_resources(nc: Any, consumer: bool) -> None:
    """The raw pipeline's stream, consumer and bucket, configured like naq's where it matters."""
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=RAW_STREAM,
            subjects=[f"{RAW_SUBJECT_PREFIX}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=names.DUPLICATE_WINDOW,
        )
    )
    if consumer:
        await js.add_consumer(
            RAW_STREAM,
            ConsumerConfig(
                durable_name=RAW_CONSUMER,
                filter_subject=f"{RAW_SUBJECT_PREFIX}.default",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30.0,
                max_ack_pending=1000,
            ),
        )
        await js.create_key_value(bucket=RAW_BUCKET, history=1, storage=StorageType.FILE)


def raw_payload(job_id: str) -> bytes:
    body = {"id": job_id, "function": NOOP, "args": [], "kwargs": {}, "enqueued_at": time.time(), "pad": ""}
    data = json.dumps(body)
    body["pad"] = "x" * max(0, NAQ_PAYLOAD_SIZE - len(data))
    return json.dumps(body).encode()


async def raw_publish_all(js: Any, count: int) -> list[str]:
    """Publish ``count`` raw jobs, pipelined, and wait for every ack; returns their ids."""
    ids = []
    futures = []
    subject = f"{RAW_SUBJECT_PREFIX}.default"
    for _ in range(count):
        job_id = uuid.uuid4().hex
        ids.append(job_id)
        futures.append(await js.publish_async(subject, raw_payload(job_id), headers={"Nats-Msg-Id": job_id}))
    await asyncio.wait_for(asyncio.gather(*futures), 60)
    return ids


class ResultObserver:
    """One core subscription on ``$KV.<bucket>.>``: the distinct ids whose result arrived, and when.

    Only ids seen after :meth:`reset` count; ``done`` resolves (with the perf_counter time) once
    ``expected`` distinct ids have arrived.
    """

    def __init__(self, nc: Any, bucket: str) -> None:
        self.nc = nc
        self.prefix = f"$KV.{bucket}."
        self.seen: dict[str, bytes] = {}
        self.expected = 0
        self.done: asyncio.Future[float] | None = None
        self.subscription: Any = None

    async def start(self) -> None:
        self.subscription = await self.nc.subscribe(self.prefix + ">", cb=self._on_message, pending_msgs_limit=-1)
        await self.nc.flush()

    def reset(self, expected: int) -> asyncio.Future[float]:
        self.seen = {}
        self.expected = expected
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    async def _on_message(self, message: Any) -> None:
        if not message.data:
            return  # a delete marker
        self.seen[message.subject[len(self.prefix) :]] = message.data
        if len(self.seen) >= self.expected and self.done is not None and not self.done.done():
            self.done.set_result(time.perf_counter())

    async def stop(self) -> None:
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            await subscription.unsubscribe()


async def wait_results(observer: ResultObserver, done: asyncio.Future[float], what: str, timeout: float) -> float:
    try:
        return await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        got = len(observer.seen)
        raise RuntimeError(f"{what}: only {got} of {observer.expected} results within {timeout} s") from None


def check_accounted(observer: ResultObserver, ids: list[str], completed_marker: bytes, what: str) -> None:
    """Every enqueued id has exactly one stored result that says completed, and nothing else arrived."""
    expected = set(ids)
    if len(expected) != len(ids):
        raise RuntimeError(f"{what}: duplicate job ids enqueued")
    missing = expected - observer.seen.keys()
    extra = observer.seen.keys() - expected
    not_completed = [k for k in expected if completed_marker not in observer.seen.get(k, completed_marker)]
    if missing or extra or not_completed:
        raise RuntimeError(
            f"{what}: {len(missing)} missing, {len(extra)} unexpected, {len(not_completed)} not completed results"
        )


async def stored_results(nc: Any, bucket: str) -> int:
    info = await nc.jetstream().stream_info(f"KV_{bucket}")
    return info.state.messages


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def latency_summary(samples_s: list[float]) -> dict[str, Any]:
    """p50/p99/max in milliseconds of ``samples_s`` (seconds)."""
    ms = [s * 1000 for s in samples_s]
    return {
        "samples": len(ms),
        "p50_ms": rounded(percentile(ms, 0.50)),
        "p99_ms": rounded(percentile(ms, 0.99)),
        "max_ms": rounded(max(ms)),
    }


def below_target(targets: dict[str, tuple[str, float]], benchmark: str, value: float) -> dict[str, Any]:
    """A summary's ``target`` and ``target_met`` for a target ``metric < limit`` (nothing when
    ``benchmark`` has no target)."""
    if benchmark not in targets:
        return {}
    metric, limit = targets[benchmark]
    return {"target": f"{metric} < {limit:g}", "target_met": value < limit}


async def runs_on_a_server(
    workdir: Path, name: str, runs: int, one_run: Callable[[NatsServer, Processes, int], Awaitable[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Start a nats-server, await ``one_run(server, processes, run)`` for runs 1..``runs``, then stop
    the server and every process the runs started (on error too); the runs' results in order."""
    server = NatsServer(workdir / "nats", name=name)
    processes = Processes(workdir)
    results = []
    try:
        server.start()
        server.wait_healthy()
        for run in range(1, runs + 1):
            results.append(await one_run(server, processes, run))
    finally:
        processes.close()
        server.stop()
    return results


# --- the benchmarks --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, server: NatsServer, processes: Processes, workdir: Path) -> None:
        self.args = args
        self.server = server
        self.processes = processes
        self.workdir = workdir
        self.settings = Settings.from_env({}, nats_url=server.url)
        self.nc: Any = None  # control + observer connection

    def cpu_meter(self, worker: subprocess.Popen[bytes]) -> CpuMeter:
        assert self.server.process is not None
        return CpuMeter(worker=worker.pid, server=self.server.process.pid, producer=os.getpid())

    def worker_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NAQ_")}
        env.update(self.settings.as_env())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
        return env

    async def reset(self) -> None:
        await close()  # naq's per-loop connection caches what it ensured: start over with the server
        await delete_all_streams(self.nc, self.server)

    # -- a. bulk enqueue -------------------------------------------------------------------------

    async def naq_enqueue(self) -> dict[str, Any]:
        await self.reset()
        queue = Queue("default", settings=self.settings)
        await queue.enqueue_many(NOOP, [()] * 10)  # connect, create the streams
        await queue.purge()
        n = self.args.jobs
        start = time.perf_counter()
        jobs = await queue.enqueue_many(NOOP, [()] * n)
        elapsed = time.perf_counter() - start
        info = await self.nc.jetstream().stream_info(names.JOBS_STREAM)
        if len(jobs) != n or info.state.messages != n:
            raise RuntimeError(f"naq enqueue: {len(jobs)} handles, {info.state.messages} messages, expected {n}")
        await close()
        return {"jobs": n, "seconds": rounded(elapsed), "jobs_per_s": round(n / elapsed)}

    async def raw_enqueue(self) -> dict[str, Any]:
        await self.reset()
        await create_raw_resources(self.nc, consumer=False)
        nc = await nats.connect(self.server.url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            js = nc.jetstream(publish_async_max_pending=4000)
            await raw_publish_all(js, 10)
            await js.purge_stream(RAW_STREAM)
            n = self.args.jobs
            start = time.perf_counter()
            ids = await raw_publish_all(js, n)
            elapsed = time.perf_counter() - start
        finally:
            await nc.close()
        info = await self.nc.jetstream().stream_info(RAW_STREAM)
        if len(set(ids)) != n or info.state.messages != n:
            raise RuntimeError(f"raw enqueue: {info.state.messages} messages, expected {n}")
        return {"jobs": n, "seconds": rounded(elapsed), "jobs_per_s": round(n / elapsed)}

    # -- b. end to end + c. round trip -------------------------------------------------------------
    #
    # Both implementations go through the same steps with one worker process running: a warm-up
    # batch (the worker is up, its consumer exists, caches are hot), then the end-to-end batch
    # observed through one wildcard subscription on the results bucket, then the sequential round
    # trips. Only the parts that differ (how a job is enqueued, how one round trip is made) are
    # implementation-specific.

    async def worker_benchmarks(self, impl: str, want_e2e: bool, want_round_trip: bool) -> dict[str, dict[str, Any]]:
        await self.reset()
        naq = impl == "naq"
        if naq:
            queue = Queue("default", settings=self.settings)
            bucket, marker = names.RESULTS_BUCKET, b'"status":"completed"'
            command = [console_script("naq-worker"), "default", "--concurrency", str(self.args.concurrency)]
            command += ["--allow-module", "harness"]
            extra: dict[str, Any] = {"concurrency": self.args.concurrency}
        else:
            await create_raw_resources(self.nc, consumer=True)
            bucket, marker = RAW_BUCKET, b'"status": "completed"'
            worker_script = str(Path(__file__).with_name("bench_raw_worker.py"))
            command = [sys.executable, worker_script, self.server.url, RAW_STREAM, RAW_CONSUMER, RAW_BUCKET]
            command += ["--batch", str(self.args.raw_batch)]
            extra = {"batch": self.args.raw_batch}
        nc = await nats.connect(self.server.url, connect_timeout=5, max_reconnect_attempts=0)
        js = nc.jetstream(publish_async_max_pending=4000)

        async def enqueue_batch(n: int) -> list[str]:
            if naq:
                return [job.job_id for job in await queue.enqueue_many(NOOP, [()] * n)]
            return await raw_publish_all(js, n)

        observer = ResultObserver(self.nc, bucket)
        await observer.start()
        out: dict[str, dict[str, Any]] = {}
        try:
            with running(self.processes, f"{impl}-worker", command, self.worker_env()) as (process, log_path):
                done = observer.reset(WARMUP_JOBS)
                ids = await enqueue_batch(WARMUP_JOBS)
                await wait_results(observer, done, f"{impl} warm-up (worker log: {log_path})", 60)
                check_accounted(observer, ids, marker, f"{impl} warm-up")

                if want_e2e:
                    out["e2e_throughput"] = {
                        **extra,
                        **await self.end_to_end(impl, observer, process, enqueue_batch, marker),
                    }
                await observer.stop()  # the round trips are observed by the producer alone

                if want_round_trip:
                    one = self.naq_round_trip(queue) if naq else self.raw_round_trip(nc, js)
                    out["round_trip"] = {**await self.sequential(one), **extra}
        finally:
            await observer.stop()
            await nc.close()
            await close()
        return out

    async def end_to_end(
        self,
        impl: str,
        observer: ResultObserver,
        worker: subprocess.Popen[bytes],
        enqueue_batch: Callable[[int], Awaitable[list[str]]],
        marker: bytes,
    ) -> dict[str, Any]:
        """``--jobs`` jobs from the first enqueue until every result is stored, each accounted for."""
        n = self.args.jobs
        done = observer.reset(n)
        cpu = self.cpu_meter(worker)
        cpu.start()
        start = time.perf_counter()
        ids = await enqueue_batch(n)
        enqueued = time.perf_counter()
        finished = await wait_results(observer, done, f"{impl} end to end", E2E_DEADLINE)
        cpu_used = cpu.stop(n)
        check_accounted(observer, ids, marker, f"{impl} end to end")
        bucket = observer.prefix.split(".")[1]
        stored = await stored_results(self.nc, bucket)
        if stored < n + WARMUP_JOBS:
            raise RuntimeError(f"{impl} end to end: {stored} results stored, expected {n + WARMUP_JOBS}")
        return {
            "jobs": n,
            "seconds": rounded(finished - start),
            "enqueue_seconds": rounded(enqueued - start),
            "jobs_per_s": round(n / (finished - start)),
            **cpu_used,
        }

    def naq_round_trip(self, queue: Queue) -> Callable[[], Awaitable[bool]]:
        async def one() -> bool:
            job = await queue.enqueue(NOOP)
            try:
                value = await job.result(timeout=self.args.result_timeout)
            except TimeoutError:
                # job.result() can miss a result written while it subscribed (see docs/benchmarks.md):
                # the sample counts with the time naq took to report (the timeout), if the job did end.
                if await self.stored_result(names.RESULTS_BUCKET, job.job_id, b'"status":"completed"'):
                    return True
                raise RuntimeError(await self.naq_diagnostics(job.job_id)) from None
            if value is not None:
                raise RuntimeError(f"naq round trip: unexpected result {value!r}")
            return False

        return one

    def raw_round_trip(self, nc: Any, js: Any) -> Callable[[], Awaitable[bool]]:
        subject = f"{RAW_SUBJECT_PREFIX}.default"

        async def one() -> bool:
            job_id = uuid.uuid4().hex
            sub = await nc.subscribe(f"$KV.{RAW_BUCKET}.{job_id}")
            try:
                await js.publish(subject, raw_payload(job_id), headers={"Nats-Msg-Id": job_id})
                try:
                    message = await sub.next_msg(timeout=self.args.result_timeout)
                except nats.errors.TimeoutError:
                    if await self.stored_result(RAW_BUCKET, job_id, b'"status": "completed"'):
                        return True
                    raise RuntimeError(f"raw round trip: no result for {job_id}") from None
                if json.loads(message.data)["status"] != "completed":
                    raise RuntimeError("raw round trip: result not completed")
            finally:
                await sub.unsubscribe()
            return False

        return one

    async def stored_result(self, bucket: str, key: str, marker: bytes) -> bool:
        """True if ``key`` holds a result containing ``marker`` (a completed job)."""
        try:
            entry = await (await self.nc.jetstream().key_value(bucket)).get(key)
        except nats.js.errors.KeyNotFoundError:
            return False
        return entry.value is not None and marker in entry.value

    async def naq_diagnostics(self, job_id: str) -> str:
        """Where a naq job whose result never came stands: the consumer's counts."""
        consumer = await self.nc.jetstream().consumer_info(names.JOBS_STREAM, "naq-worker-default")
        return (
            f"naq round trip: no result stored for {job_id} within {self.args.result_timeout} s; consumer: "
            f"pending {consumer.num_pending}, ack pending {consumer.num_ack_pending}, "
            f"redelivered {consumer.num_redelivered}"
        )

    async def sequential(self, one: Callable[[], Awaitable[bool]]) -> dict[str, Any]:
        """Warm up, then ``--latency-jobs`` round trips one after another; ms percentiles."""
        for _ in range(LATENCY_WARMUP):
            await one()
        samples = []
        missed = 0
        for _ in range(self.args.latency_jobs):
            start = time.perf_counter()
            missed += await one()
            samples.append((time.perf_counter() - start) * 1000)
        return {
            "jobs": len(samples),
            "p50_ms": rounded(percentile(samples, 0.50)),
            "p99_ms": rounded(percentile(samples, 0.99)),
            "mean_ms": rounded(statistics.fmean(samples)),
            "missed_wakeups": missed,
        }


# --- runs and summary ------------------------------------------------------------------------------

METRICS = {
    "enqueue_bulk": ["jobs_per_s"],
    "e2e_throughput": ["jobs_per_s"],
    "round_trip": ["p50_ms", "p99_ms"],
}
"""What each benchmark compares; jobs/s: higher is better, ms: lower is better."""

TARGETS = {
    "e2e_throughput": ("jobs_per_s", "ratio >= 0.5", lambda ratio: ratio >= 0.5),
    "round_trip": ("p50_ms", "ratio <= 3", lambda ratio: ratio <= 3.0),
}
"""The acceptance targets of issue 3, on the ratio of the medians naq/raw."""

Results = dict[str, dict[str, list[dict[str, Any]]]]


def compare(benchmark: str, run: int, naq: dict[str, Any], raw: dict[str, Any], results: Results) -> None:
    """Print one run's naq and raw measurements and their ratio; keep them for the summary."""
    metrics = METRICS[benchmark]
    emit(benchmark=benchmark, impl="naq", run=run, **naq)
    emit(benchmark=benchmark, impl="raw-nats-py", run=run, **raw)
    emit(
        benchmark=benchmark,
        impl="comparison",
        run=run,
        **{f"{m}_naq": naq[m] for m in metrics},
        **{f"{m}_raw": raw[m] for m in metrics},
        **{f"{m}_ratio_naq_over_raw": rounded(naq[m] / raw[m]) for m in metrics},
    )
    results[benchmark]["naq"].append(naq)
    results[benchmark]["raw"].append(raw)


def summarize(results: Results) -> bool:
    """Print a summary line per benchmark (medians, ratio of the medians); True if every target is met."""
    ok = True
    for benchmark, by_impl in results.items():
        if not by_impl["naq"]:
            continue
        summary: dict[str, Any] = {"benchmark": benchmark, "impl": "summary", "runs": len(by_impl["naq"])}
        for metric in METRICS[benchmark]:
            naq_median = statistics.median(r[metric] for r in by_impl["naq"])
            raw_median = statistics.median(r[metric] for r in by_impl["raw"])
            summary[f"{metric}_naq_median"] = rounded(naq_median)
            summary[f"{metric}_raw_median"] = rounded(raw_median)
            summary[f"{metric}_ratio_naq_over_raw"] = rounded(naq_median / raw_median)
        if benchmark == "round_trip":
            summary["missed_wakeups_naq"] = sum(r["missed_wakeups"] for r in by_impl["naq"])
            summary["missed_wakeups_raw"] = sum(r["missed_wakeups"] for r in by_impl["raw"])
        if benchmark in TARGETS:
            metric, text, check = TARGETS[benchmark]
            met = check(summary[f"{metric}_ratio_naq_over_raw"])
            summary["target"] = f"{metric} {text}"
            summary["target_met"] = met
            ok = ok and met
        emit(**summary)
    return ok


def emit_config(args: argparse.Namespace) -> None:
    version = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True, check=False)
    emit(
        benchmark="config",
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        runs=args.runs,
        jobs=args.jobs,
        latency_jobs=args.latency_jobs,
        naq_worker_concurrency=args.concurrency,
        raw_fetch_batch=args.raw_batch,
        cpus=os.cpu_count(),
        loadavg_1m=round(os.getloadavg()[0], 2),
        python=platform.python_version(),
        nats_server=version.stdout.strip(),
        platform=platform.platform(),
    )


async def one_run(bench: Bench, run: int, selected: set[str], results: Results) -> None:
    """Every selected benchmark once for naq and once for raw (who goes first alternates per run)."""
    order = ("naq", "raw") if run % 2 == 1 else ("raw", "naq")
    if "enqueue_bulk" in selected:
        out = {}
        for impl in order:
            note(f"run {run}: enqueue_bulk, {impl}")
            out[impl] = await (bench.naq_enqueue() if impl == "naq" else bench.raw_enqueue())
        compare("enqueue_bulk", run, out["naq"], out["raw"], results)
    want_e2e, want_round_trip = "e2e_throughput" in selected, "round_trip" in selected
    if want_e2e or want_round_trip:
        by_impl = {}
        for impl in order:
            note(f"run {run}: worker benchmarks, {impl}")
            by_impl[impl] = await bench.worker_benchmarks(impl, want_e2e, want_round_trip)
        for benchmark in ("e2e_throughput", "round_trip"):
            if benchmark in by_impl["naq"]:
                compare(benchmark, run, by_impl["naq"][benchmark], by_impl["raw"][benchmark], results)


async def bench_main(args: argparse.Namespace, workdir: Path) -> int:
    server = NatsServer(workdir / "nats", name="naq-bench")
    processes = Processes(workdir)
    results: Results = {b: {"naq": [], "raw": []} for b in METRICS}
    selected = set(args.only or METRICS)
    try:
        server.start()
        server.wait_healthy()
        await asyncio.to_thread(emit_config, args)
        bench = Bench(args, server, processes, workdir)
        bench.nc = await nats.connect(server.url, connect_timeout=5, max_reconnect_attempts=0)
        try:
            for run in range(1, args.runs + 1):
                await one_run(bench, run, selected, results)
        finally:
            await close()
            await bench.nc.close()
    finally:
        processes.close()
        server.stop()
    emit(benchmark="config", impl="end", loadavg_1m=round(os.getloadavg()[0], 2))
    ok = summarize(results)
    return 0 if ok or not args.strict else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs; summaries are medians (default 3)")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs for enqueue_bulk and e2e (default 10000)")
    parser.add_argument("--latency-jobs", type=int, default=500, help="sequential round trips (default 500)")
    parser.add_argument("--concurrency", type=int, default=100, help="naq worker --concurrency (default 100)")
    parser.add_argument("--raw-batch", type=int, default=256, help="raw worker fetch batch (default 256)")
    parser.add_argument(
        "--result-timeout", type=float, default=2.0, help="seconds one round trip waits for its result (default 2)"
    )
    parser.add_argument("--only", action="append", choices=sorted(METRICS), help="run only these (repeatable)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target ratio is missed")
    args = parser.parse_args(argv)
    for name in ("runs", "jobs", "latency_jobs", "concurrency", "raw_batch", "result_timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks: everything is stopped

    signal.signal(signal.SIGTERM, on_sigterm)
    with tempfile.TemporaryDirectory(prefix="naq-bench-") as tmp:
        return asyncio.run(bench_main(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
