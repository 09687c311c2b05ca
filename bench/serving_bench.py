"""Serving benchmark: the cached predict endpoint against a bare endpoint and the seed's design.

One run on loopback, against the real deployment shape: gunicorn, gthread worker
class, ``--workers 2 --threads 4``, ``OMP_NUM_THREADS=1``, access log off, Prometheus
in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, as the service is deployed), app
``bench.serving_app:create_app()`` (the service plus one benchmark-only route).
Gunicorn's options are given on the command line, not read from a config file.

1. A store (a SQLite file in a temporary directory, or ``--database-url``, whose
   schema is dropped and rebuilt) with ``examples/sample.yaml`` applied, its series
   refreshed and its model trained: what ``tests/conftest.py``'s ``serve_sample``
   does, through the same functions.
2. Three endpoints, every one through the same app and middleware:
   - bare: ``/healthz``, ``{"status": "ok"}``: the ceiling of the stack;
   - predict: ``/api/model/sample-forecast/predict``, answered from the worker's cache;
   - seed-style: ``/bench/seed-style/sample-forecast``, per request the seed's work:
     read the served version (artifact) and the data, parse the booster, compute.
   Before any load, predict and seed-style must return the same forecast.
3. Each endpoint is warmed (every worker loads its cache), then wrk runs bounded in
   time, endpoints interleaved: ``--connections`` (16) for throughput, then one
   connection for latency; ``--rounds`` (3) repeats it and the median is reported.
   After each run the service finishes what wrk left in flight before the next
   starts. The CPU time each worker used is recorded per run: gunicorn's workers
   accept keep-alive connections unevenly, so a run may load one worker only.
4. Every response must be a 200: wrk's non-2xx/3xx and socket error counts must be
   0, and the service's own request counter (``/metrics``, every worker) must show
   only status 200 for the route, at least as many as wrk counted.

Goals (the issue): predict >= 80% of the bare endpoint's req/s, >= 10x the
seed-style req/s (both at ``--connections``), p50 < 1 ms with one connection.

Run:  .venv/bin/python bench/serving_bench.py [--duration 10] [--connections 16] [--rounds 3]
      [--database-url postgresql://postgres@127.0.0.1:5432/forecasting_bench] [--quick]
Progress goes to stderr, the report to stdout; exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from database import bench_engine
from prometheus_client.parser import text_string_to_metric_families
from reporting import cpu_model, table
from sqlalchemy import text

from forecasting.apply import apply_file
from forecasting.db import make_engine
from forecasting.migrate import upgrade
from forecasting.refresh import refresh
from forecasting.training import train_model

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_YAML = ROOT / "examples" / "sample.yaml"
MODEL = "sample-forecast"
BIN = Path(sys.executable).parent
GOAL_OF_BARE = 0.8  # predict req/s / bare req/s, at least
GOAL_OF_SEED = 10.0  # predict req/s / seed-style req/s, at least
GOAL_P50_MS = 1.0  # predict p50 with one connection, below
LATENCY_METRIC = "forecasting_http_request_duration_seconds"


@dataclass(frozen=True)
class Endpoint:
    key: str
    path: str  # the URL path requested
    route: str  # Flask's route template, as the service's metrics label it


ENDPOINTS = (
    Endpoint("bare", "/healthz", "/healthz"),
    Endpoint("predict", f"/api/model/{MODEL}/predict", "/api/model/<name>/predict"),
    Endpoint("seed-style", f"/bench/seed-style/{MODEL}", "/bench/seed-style/<name>"),
)

_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- store


def build_store(url: str | None, workdir: Path) -> str:
    """A migrated store with the sample model trained; returns its URL (with password)."""
    engine = bench_engine(url or f"sqlite:///{workdir / 'store.db'}")
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(engine)
        apply_file(engine, SAMPLE_YAML)
        refresh(engine)
        train_model(engine, MODEL, windows=2)
        return engine.url.render_as_string(hide_password=False)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def gunicorn(database_url: str, workdir: Path, workers: int, threads: int) -> Iterator[tuple[str, int]]:
    """A gunicorn serving the benchmark app on a free loopback port; yields its base URL and pid."""
    port = free_port()
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir()
    empty_config = workdir / "gunicorn.conf.py"  # never pick up a gunicorn.conf.py from the cwd
    empty_config.write_text("")
    log_path = workdir / "gunicorn.log"
    command = [
        str(BIN / "gunicorn"),
        "--config",
        str(empty_config),
        "--chdir",
        str(ROOT),
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "bench.serving_app:create_app()",
    ]
    env = {
        **os.environ,
        "FORECASTING_DATABASE_URL": database_url,
        "OMP_NUM_THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    env.pop("FORECASTING_API_TOKEN", None)
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"FAILED: gunicorn exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if fetch(base + "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"FAILED: gunicorn did not answer within 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        progress(f"gunicorn pid {proc.pid} on {base}: {' '.join(command[5:-1])}")
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        errors = [
            line for line in log_path.read_text().splitlines() if "[ERROR]" in line or "Traceback" in line
        ]
        if errors:
            progress(f"gunicorn log has {len(errors)} error line(s), e.g. {errors[0]!r}")


def served_counts(base: str, route: str) -> dict[str, float]:
    """Requests the service counted for ``route`` so far, by status, over every worker."""
    status, payload = fetch(base + "/metrics")
    if status != 200:
        raise SystemExit(f"FAILED: /metrics answered {status}")
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(payload.decode()):
        if family.name != LATENCY_METRIC:
            continue
        for sample in family.samples:
            if sample.name == LATENCY_METRIC + "_count" and sample.labels.get("route") == route:
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    return counts


# --------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkRun:
    endpoint: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    bad_status: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: int
    served: dict[str, float]  # the service's own count for the route during the run, by status
    worker_cpu_s: tuple[float, ...]  # CPU seconds each gunicorn worker used during the run


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests, duration, req/s, latency percentiles and error counts from ``wrk --latency``."""
    found = {
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)),
        "p90_ms": _ms(re.search(r"^\s+90%\s+(\S+)", output, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)),
        "rps": float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1)),
    }
    done = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", output, re.M)
    found["requests"] = int(done.group(1))
    found["seconds"] = _ms(done.group(2) + done.group(3)) / 1e3
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    found["bad_status"] = int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    found["socket_errors"] = sum(int(x) for x in sock.groups()) if sock else 0
    return found


def worker_cpu(master: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each worker of the gunicorn ``master``."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return {}
    used = {}
    for pid in map(int, children):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def settled_counts(base: str, route: str, timeout_s: float = 60) -> dict[str, float]:
    """The route's counts once the service has finished what wrk left in flight.

    wrk stops counting at its deadline; requests it sent are still being answered
    (a second per connection for the slow path), and would load the next run.
    """
    deadline = time.monotonic() + timeout_s
    counts = served_counts(base, route)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        again = served_counts(base, route)
        if again == counts:
            break
        counts = again
    return counts


def run_wrk(wrk: str, base: str, master: int, endpoint: Endpoint, connections: int, seconds: float) -> WrkRun:
    """wrk for ``seconds`` (one load-generator thread: the server gets the other core)."""
    before = served_counts(base, endpoint.route)
    cpu_before = worker_cpu(master)
    command = [wrk, "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s", "--latency"]
    result = subprocess.run([*command, base + endpoint.path], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"FAILED: wrk exited with {result.returncode}: {result.stderr}{result.stdout}")
    cpu_after = worker_cpu(master)
    after = settled_counts(base, endpoint.route)
    try:
        found = parse_wrk(result.stdout)
    except AttributeError:
        raise SystemExit(f"FAILED: cannot parse wrk's output:\n{result.stdout}") from None
    served = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    cpu = tuple(round(cpu_after[pid] - cpu_before.get(pid, 0), 2) for pid in sorted(cpu_after))
    run = WrkRun(endpoint.key, connections, served=served, worker_cpu_s=cpu, **found)
    progress(
        f"  {endpoint.key:<10} c={connections:<3} {run.rps:9.1f} req/s  p50 {run.p50_ms:7.3f} ms  "
        f"p99 {run.p99_ms:8.3f} ms  ({run.requests} requests, served {served}, worker CPU s {cpu})"
    )
    return run


def cpu_us_per_request(run: WrkRun) -> float:
    """Worker CPU time per request answered: the cost, whatever the connection balance."""
    return 1e6 * sum(run.worker_cpu_s) / max(1.0, sum(run.served.values()))


def balance(run: WrkRun) -> float:
    """Least / most loaded worker's CPU time in the run (1 = even, 0 = one worker did all)."""
    return (
        min(run.worker_cpu_s) / max(run.worker_cpu_s) if run.worker_cpu_s and max(run.worker_cpu_s) else 0.0
    )


def balanced_text(runs: Sequence[WrkRun], connections: int) -> str:
    """predict / bare req/s over the runs where both workers were loaded (median of each)."""
    rps = {}
    for key in ("predict", "bare"):
        even = [
            r.rps for r in runs if r.endpoint == key and r.connections == connections and balance(r) >= 0.5
        ]
        if not even:
            return f"no balanced {key} run"
        rps[key] = statistics.median(even)
    return f"{rps['predict'] / rps['bare']:.1%} ({rps['predict']:,.0f} / {rps['bare']:,.0f})"


def check_all_ok(run: WrkRun) -> str | None:
    """Why the run had a response that is not a 200, or None."""
    if run.bad_status or run.socket_errors:
        what = f"{run.bad_status} non-2xx/3xx, {run.socket_errors} socket errors"
        return f"{run.endpoint} c={run.connections}: {what}"
    other = {status: n for status, n in run.served.items() if status != "200"}
    if other:
        return f"{run.endpoint} c={run.connections}: the service answered {other}"
    if run.served.get("200", 0) < run.requests:
        return f"{run.endpoint} c={run.connections}: wrk counted {run.requests}, the service {run.served}"
    return None


# --------------------------------------------------------------------------- checks


def same_forecast(base: str) -> str:
    """The cached predict and the seed-style path answer 200 with the same forecast."""
    documents = {}
    for endpoint in ENDPOINTS:
        status, payload = fetch(base + endpoint.path)
        if status != 200:
            raise SystemExit(f"FAILED: {endpoint.path} answered {status}: {payload[:300]!r}")
        documents[endpoint.key] = json.loads(payload)
    if documents["bare"] != {"status": "ok"}:
        raise SystemExit(f"FAILED: /healthz answered {documents['bare']}")
    if documents["predict"] != documents["seed-style"]:
        raise SystemExit("FAILED: predict and seed-style return different forecasts")
    forecasts = documents["predict"]["forecasts"]
    return f"{len(forecasts)} forecast rows, model version {documents['predict']['model_version']}"


# --------------------------------------------------------------------------- report


def median_of(runs: Sequence[WrkRun], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def versions() -> str:
    from importlib.metadata import version

    names = ("flask", "werkzeug", "gunicorn", "lightgbm", "pandas", "sqlalchemy", "prometheus_client")
    return ", ".join(f"{n} {version(n)}" for n in names)


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).split("Copyright")[0].strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="for the throughput runs (default 16)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="repeat every run (default 3); the median is reported"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--database-url",
        help="a Postgres URL (its schema is dropped and rebuilt); default: SQLite in a temp dir",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s runs, short warm-up")
    args = parser.parse_args(argv)
    if not shutil.which(args.wrk):
        raise SystemExit(
            f"wrk not found at {args.wrk}: install it (Debian/Ubuntu: apt-get install wrk) or pass --wrk PATH"
        )
    duration = 2.0 if args.quick else args.duration
    rounds = 1 if args.quick else args.rounds
    warm_s = 1.0 if args.quick else 3.0

    started = dt.datetime.now().astimezone()
    load_before = load_text()
    workdir = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    try:
        progress("building the store: apply examples/sample.yaml, refresh, train (2 backtest windows)")
        url = build_store(args.database_url, workdir)
        store = make_engine(url).url.render_as_string(hide_password=True)
        runs: list[WrkRun] = []
        warm: list[WrkRun] = []
        with gunicorn(url, workdir, args.workers, args.threads) as (base, master):
            checked = same_forecast(base)
            progress(f"predict == seed-style: {checked}")
            progress(f"warming each endpoint ({warm_s:g} s at c={args.connections})")
            warm = [run_wrk(args.wrk, base, master, e, args.connections, warm_s) for e in ENDPOINTS]
            for r in range(rounds):
                progress(f"round {r + 1}/{rounds}: {duration:g} s per run")
                for connections in (args.connections, 1):
                    for endpoint in ENDPOINTS:
                        runs.append(run_wrk(args.wrk, base, master, endpoint, connections, duration))
        load_after = load_text()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    problems = [p for p in map(check_all_ok, warm + runs) if p]

    def pick(key: str, connections: int) -> list[WrkRun]:
        return [r for r in runs if r.endpoint == key and r.connections == connections]

    c = args.connections
    rps = {e.key: median_of(pick(e.key, c), "rps") for e in ENDPOINTS}
    p50_1 = {e.key: median_of(pick(e.key, 1), "p50_ms") for e in ENDPOINTS}
    rows = [
        [
            e.key,
            e.path,
            f"{rps[e.key]:,.0f}",
            f"{median_of(pick(e.key, c), 'p50_ms'):.2f}",
            f"{median_of(pick(e.key, c), 'p99_ms'):.2f}",
            f"{median_of(pick(e.key, 1), 'rps'):,.0f}",
            f"{p50_1[e.key]:.3f}",
            f"{median_of(pick(e.key, 1), 'p99_ms'):.3f}",
            f"{statistics.median(map(cpu_us_per_request, pick(e.key, c))):,.0f}",
        ]
        for e in ENDPOINTS
    ]
    of_bare = rps["predict"] / rps["bare"]
    of_seed = rps["predict"] / rps["seed-style"]
    cost = {e.key: statistics.median(map(cpu_us_per_request, pick(e.key, c))) for e in ENDPOINTS}
    goals = [
        (f"predict req/s >= {GOAL_OF_BARE:.0%} of bare (c={c})", f"{of_bare:.1%}", of_bare >= GOAL_OF_BARE),
        (
            f"predict req/s >= {GOAL_OF_SEED:g}x seed-style (c={c})",
            f"{of_seed:.1f}x",
            of_seed >= GOAL_OF_SEED,
        ),
        (
            f"predict p50 < {GOAL_P50_MS:g} ms (c=1)",
            f"{p50_1['predict']:.3f} ms",
            p50_1["predict"] < GOAL_P50_MS,
        ),
        ("every response a 200", "yes" if not problems else "NO", not problems),
    ]
    raw = [
        f"- {r.endpoint} c={r.connections}: {r.rps:,.1f} req/s, p50/p90/p99 {r.p50_ms:.3f}/{r.p90_ms:.3f}/"
        f"{r.p99_ms:.3f} ms, {r.requests} requests in {r.seconds:.2f} s, service counted {r.served}, "
        f"worker CPU s {r.worker_cpu_s} (balance {balance(r):.2f}, {cpu_us_per_request(r):,.0f} µs/req)"
        for r in runs
    ]
    out = [
        "Serving benchmark: cached predict vs bare endpoint vs seed-style (per-request load), loopback",
        f"date:     {started.strftime('%Y-%m-%d %H:%M %Z')} (start)",
        f"machine:  {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"{platform.machine()}",
        f"load:     {load_before} before, {load_after} after (1/5/15 min averages)",
        f"python:   {platform.python_version()}, {versions()}",
        f"wrk:      {wrk_version(args.wrk)}, 1 thread, {duration:g} s per run, --latency, "
        f"{rounds} round(s), median reported",
        f"server:   gunicorn -k gthread -w {args.workers} --threads {args.threads}, OMP_NUM_THREADS=1, "
        "access log off, PROMETHEUS_MULTIPROC_DIR set, cache TTL default",
        f"store:    {store}, examples/sample.yaml, model {MODEL} ({checked})",
        "",
        table(
            ["endpoint", "path", f"req/s c={c}", f"p50 ms c={c}", f"p99 ms c={c}", "req/s c=1", "p50 ms c=1"]
            + ["p99 ms c=1", f"CPU µs/req c={c}"],
            rows,
        ),
        "",
        f"predict / bare req/s:        {of_bare:.1%}",
        f"predict / seed-style req/s:  {of_seed:.1f}x",
        f"predict / bare req/s, runs with both workers loaded (balance >= 0.5): {balanced_text(runs, c)}",
        f"worker CPU per request, predict / bare: {cost['predict'] / cost['bare']:.2f}, "
        f"seed-style / predict: {cost['seed-style'] / cost['predict']:.0f}x",
        "unbalanced runs (one worker used < half the CPU of the other; gunicorn's workers race to accept "
        f"wrk's connections): {sum(balance(r) < 0.5 for r in runs if r.connections > 1)} of "
        f"{sum(r.connections > 1 for r in runs)} at c={c}",
        "",
        table(["goal", "measured", "result"], [[g, m, "PASS" if ok else "FAIL"] for g, m, ok in goals]),
        *(f"  {p}" for p in problems),
        "",
        "runs:",
        *raw,
    ]
    print("\n".join(out))
    return 0 if all(ok for *_, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
