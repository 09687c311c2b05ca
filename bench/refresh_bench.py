"""Refresh benchmark: our set-based ``store`` against the seed's per-series algorithm.

DESIGN.md, "Refresh with version detection" and its "Benchmark baseline" paragraph.
One run, same Postgres database, same deterministic data, both sides on a fresh schema:

1. N series x P weekly integer values 0-100 (like Google Trends). The second
   download gives every series one new week; a fraction ``--changed`` has its whole
   history renormalised (the new week is the new maximum, so every past value is
   rescaled and rounded and the old 100 no longer matches).
2. Ours: ``forecasting.refresh.store`` for the first load, then for the refresh.
3. Baseline: the seed's ``update_timeseries`` done faithfully with the SQLAlchemy ORM
   on the same models: per series, select its versions ordered by created_at and take
   the last, load its values into pandas, compare with the seed's
   ``_is_old_data_in_new_data``, expire + new TSVersion or append, one TSValue object
   per new row added to the session, one commit per series.
4. Statements are counted with SQLAlchemy's ``before_cursor_execute`` event
   (an executemany or an insertmanyvalues page counts once per cursor call). Both
   sides must report the expected outcome for every series and end with identical
   data (versions, values, current values, version summaries).

Run:  .venv/bin/python bench/refresh_bench.py [--series 1000] [--points 260]
      [--changed 0.1] [--repeat 2] [--database-url URL] [--profile]
The database (default forecasting_bench on 127.0.0.1:5432) is created when missing.
Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import platform
import pstats
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy
from database import bench_engine
from sqlalchemy import Engine, and_, event, func, insert, select, text
from sqlalchemy.orm import Session

import forecasting.refresh
from forecasting.digest import row_hashes
from forecasting.migrate import upgrade
from forecasting.models import TimeSeries, TSValue, TSVersion, is_current
from forecasting.refresh import RefreshResult, store
from forecasting.series import series_specs
from forecasting.sources import SeriesSpec, clean_download

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/forecasting_bench"
START = "2019-01-06"  # a Sunday: Google Trends weeks start on Sunday
SEED = 20240607

_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


@dataclass
class Workload:
    names: list[str]
    first: dict[str, pd.DataFrame]
    second: dict[str, pd.DataFrame]
    changed: set[str]
    points: int

    def subset(self, n: int) -> Workload:
        names = self.names[:n]
        return Workload(
            names,
            {k: self.first[k] for k in names},
            {k: self.second[k] for k in names},
            {k for k in names if k in self.changed},
            self.points,
        )


def make_workload(n_series: int, points: int, changed_fraction: float) -> Workload:
    """Deterministic downloads: integer 0-100, each first download has a 100."""
    rng = np.random.default_rng(SEED)
    weeks = np.arange(points + 1)
    level = rng.uniform(20, 60, size=(n_series, 1))
    trend = np.cumsum(rng.normal(0, 1.5, size=(n_series, points + 1)), axis=1)
    season = rng.uniform(0, 15, size=(n_series, 1)) * np.sin(
        2 * np.pi * (weeks[None, :] / 52.18 + rng.uniform(0, 1, size=(n_series, 1)))
    )
    raw = np.clip(level + trend + season + rng.normal(0, 3, size=(n_series, points + 1)), 0.5, None)

    first_max = raw[:, :points].max(axis=1, keepdims=True)
    first_vals = np.round(raw[:, :points] * 100.0 / first_max)
    n_changed = int(round(n_series * changed_fraction))
    changed_idx = set(rng.choice(n_series, size=n_changed, replace=False).tolist())

    second_vals = np.empty((n_series, points + 1))
    for i in range(n_series):
        if i in changed_idx:
            # Renormalised: the new week is the new maximum, the whole history rescales.
            peak = first_max[i, 0] * rng.uniform(1.05, 1.6)
            row = raw[i].copy()
            row[points] = peak
            second_vals[i] = np.round(row * 100.0 / peak)
        else:
            second_vals[i, :points] = first_vals[i]
            second_vals[i, points] = min(100.0, np.round(raw[i, points] * 100.0 / first_max[i, 0]))

    times = pd.date_range(START, periods=points + 1, freq="7D").astype("datetime64[us]")
    names = [f"bench-{i:05d}" for i in range(n_series)]
    first, second = {}, {}
    for i, name in enumerate(names):
        first[name] = clean_download(name, pd.DataFrame({"time": times[:points], "value": first_vals[i]}))
        second[name] = clean_download(name, pd.DataFrame({"time": times, "value": second_vals[i]}))
    changed = {names[i] for i in changed_idx}
    for name in changed:  # the renormalisation really changes the past
        assert not np.array_equal(first[name]["value"].to_numpy(), second[name]["value"].to_numpy()[:points])
    return Workload(names, first, second, changed, points)


def expected(work: Workload, phase: str) -> dict[str, tuple[str, int]]:
    if phase == "first":
        return {name: ("created", work.points) for name in work.names}
    return {
        name: ("new_version", work.points + 1) if name in work.changed else ("appended", 1)
        for name in work.names
    }


def check_outcomes(
    side: str, phase: str, got: Mapping[str, tuple[str, int]], want: Mapping[str, tuple[str, int]]
):
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    extra = set(got) - set(want)
    if wrong or extra:
        sample = list(wrong.items())[:5]
        raise SystemExit(
            f"FAILED: {side} {phase}: {len(wrong)} series with an unexpected outcome "
            f"(got, want) e.g. {sample}; {len(extra)} unexpected series"
        )
    counts = pd.Series([o for o, _ in got.values()]).value_counts().to_dict()
    progress(f"{side} {phase}: outcomes OK {counts}")


# --------------------------------------------------------------------------- database


class StatementCounter:
    """Counts statements sent through SQLAlchemy, and our COPYs separately.

    Our Postgres COPY goes through the driver directly, so the event hook does not
    see it; ``forecasting.refresh._bulk_load`` (one COPY per non-empty frame on
    Postgres) is wrapped here to count them, without changing what it does.
    """

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.bookkeeping = 0
        self.copies = 0
        event.listen(engine, "before_cursor_execute", self._record)
        bulk_load = forecasting.refresh._bulk_load

        def counted_bulk_load(conn, table, frame):
            if not frame.empty and conn.dialect.name == "postgresql":
                self.copies += 1
            return bulk_load(conn, table, frame)

        forecasting.refresh._bulk_load = counted_bulk_load

    def _record(self, _conn, _cursor, statement, _params, _context, _executemany) -> None:
        self.count += 1
        if statement.lstrip().upper().startswith("UPDATE TS_VERSION SET N_VALUES"):
            self.bookkeeping += 1

    @contextmanager
    def phase(self) -> Iterator[StatementCounter]:
        self.count = 0
        self.bookkeeping = 0
        self.copies = 0
        yield self


def reset_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)


def add_series_bulk(engine: Engine, names: Sequence[str]) -> list[SeriesSpec]:
    """Setup, not timed: one executemany of the series rows."""
    with engine.begin() as conn:
        conn.execute(
            insert(TimeSeries),
            [{"name": name, "source": "sample", "params": {"seed": i}} for i, name in enumerate(names)],
        )
        return series_specs(conn, names)


@dataclass
class PhaseResult:
    seconds: float
    statements: int
    bookkeeping: int = 0
    copies: int = 0


@dataclass
class SideRun:
    first: PhaseResult
    refresh: PhaseResult
    state: dict[str, pd.DataFrame] = field(default_factory=dict)


# --------------------------------------------------------------------------- ours


def run_ours(engine: Engine, counter: StatementCounter, work: Workload, label: str) -> SideRun:
    reset_schema(engine)
    specs = add_series_bulk(engine, work.names)
    phases = {}
    for phase, downloads in (("first", work.first), ("refresh", work.second)):
        with counter.phase() as c:
            t0 = time.perf_counter()
            results = store(engine, specs, downloads)
            seconds = time.perf_counter() - t0
        phases[phase] = PhaseResult(seconds, c.count, copies=c.copies)
        progress(f"ours{label} {phase}: {seconds:.3f} s, {c.count} statements + {c.copies} COPY")
        check_outcomes(f"ours{label}", phase, _outcomes(results), expected(work, phase))
    return SideRun(phases["first"], phases["refresh"], read_state(engine))


def _outcomes(results: Sequence[RefreshResult]) -> dict[str, tuple[str, int]]:
    return {r.series: (r.outcome, r.rows_added) for r in results}


# --------------------------------------------------------------------------- baseline
# The seed's update_timeseries (seeds/000, "更新时间序列"), per series, with the ORM.


def _build_old_data(session: Session, version: TSVersion) -> pd.DataFrame:
    # seed: pd.DataFrame(version.tsvalue_set.values("time", "value")).set_index("time")
    rows = session.execute(select(TSValue.time, TSValue.value).where(TSValue.version_id == version.id))
    old_data = pd.DataFrame(rows.mappings().all()).set_index("time")
    old_data.index = old_data.index.tz_localize(None)
    return old_data


def _is_old_data_in_new_data(old_data: pd.DataFrame, new_data: pd.DataFrame) -> bool:
    if old_data.index.isin(new_data.index).all() and new_data.loc[old_data.index].equals(old_data):
        return True
    return False


def _summary(frame: pd.DataFrame) -> tuple[int, dt.datetime, dt.datetime, int]:
    """Bookkeeping our schema requires (n_values, first/last time, digest), not in the seed."""
    hashes = row_hashes(frame.index, frame["value"])
    return len(frame), frame.index.min().to_pydatetime(), frame.index.max().to_pydatetime(), int(hashes.sum())


def update_timeseries(
    session: Session, series_id: int, download: pd.DataFrame, iterrows: bool
) -> tuple[str, int]:
    """The seed's algorithm; returns (outcome, rows added) in our vocabulary."""
    # seed's download() returns a frame indexed by time with a float "value" column
    new_data = download.set_index("time")[["value"]]

    new_version = True
    versions = session.scalars(
        select(TSVersion).where(TSVersion.timeseries_id == series_id).order_by(TSVersion.created_at)
    ).all()
    if versions:
        version = versions[-1]
        old_data = _build_old_data(session, version)
        if _is_old_data_in_new_data(old_data, new_data):
            new_version = False
            new_data = new_data.loc[~new_data.index.isin(old_data.index)]
        else:
            version.expired = True
            session.flush()  # seed: version.save()

    if new_version:
        n, first, last, digest = _summary(new_data)
        version = TSVersion(
            timeseries_id=series_id, n_values=n, first_time=first, last_time=last, digest=digest
        )
        session.add(version)
        session.flush()  # seed: version.save(), needs the id for the values
    elif len(new_data):
        n, first, last, digest = _summary(new_data)
        version.n_values += n
        version.first_time = min(version.first_time, first)
        version.last_time = max(version.last_time, last)
        version.digest += digest

    # Store new data: one ORM object per new row, inserted in bulk for this series.
    if iterrows:  # the seed's literal row loop
        objs = [TSValue(version_id=version.id, time=d[0], value=d[1].value) for d in new_data.iterrows()]
    else:
        objs = [
            TSValue(version_id=version.id, time=t, value=v)
            for t, v in zip(new_data.index.to_pydatetime(), new_data["value"].tolist())
        ]
    session.add_all(objs)
    session.commit()
    outcome = (
        ("new_version" if versions else "created") if new_version else ("appended" if objs else "unchanged")
    )
    return outcome, len(objs)


def run_baseline(engine: Engine, counter: StatementCounter, work: Workload, iterrows: bool) -> SideRun:
    reset_schema(engine)
    specs = add_series_bulk(engine, work.names)
    phases = {}
    for phase, downloads in (("first", work.first), ("refresh", work.second)):
        got = {}
        step = max(1, len(specs) // 5)
        with counter.phase() as c:
            t0 = time.perf_counter()
            with Session(engine) as session:
                for i, spec in enumerate(specs):
                    got[spec.name] = update_timeseries(session, spec.id, downloads[spec.name], iterrows)
                    if (i + 1) % step == 0:
                        progress(f"  baseline {phase}: {i + 1}/{len(specs)} series")
            seconds = time.perf_counter() - t0
        phases[phase] = PhaseResult(seconds, c.count, c.bookkeeping)
        progress(
            f"baseline {phase}: {seconds:.3f} s, {c.count} statements ({c.bookkeeping} bookkeeping UPDATEs)"
        )
        check_outcomes("baseline", phase, got, expected(work, phase))
    return SideRun(phases["first"], phases["refresh"], read_state(engine))


# --------------------------------------------------------------------------- checks


def read_state(engine: Engine) -> dict[str, pd.DataFrame]:
    """Per-series version/value counts (one query) and every current value (one query)."""
    with engine.connect() as conn:
        counts = pd.DataFrame(
            conn.execute(
                select(
                    TimeSeries.name,
                    func.count(func.distinct(TSVersion.id)).label("n_versions"),
                    func.count(func.distinct(TSVersion.id)).filter(TSVersion.expired).label("n_expired"),
                    func.count(TSValue.version_id).label("n_values_all_versions"),
                )
                .outerjoin(TSVersion, TSVersion.timeseries_id == TimeSeries.id)
                .outerjoin(TSValue, TSValue.version_id == TSVersion.id)
                .group_by(TimeSeries.name)
                .order_by(TimeSeries.name)
            ).all()
        )
        current = pd.DataFrame(
            conn.execute(
                select(
                    TimeSeries.name,
                    TSVersion.n_values,
                    TSVersion.first_time,
                    TSVersion.last_time,
                    TSVersion.digest,
                    TSValue.time,
                    TSValue.value,
                )
                .join(TSVersion, and_(TSVersion.timeseries_id == TimeSeries.id, is_current()))
                .join(TSValue, TSValue.version_id == TSVersion.id)
                .order_by(TimeSeries.name, TSValue.time)
            ).all()
        )
    current["time"] = pd.to_datetime(current["time"]).astype("datetime64[us]")
    return {"counts": counts, "current": current}


def check_valid_store(side: str, state: Mapping[str, pd.DataFrame]) -> None:
    """Each current version's summary columns agree with its values."""
    cur = state["current"]
    cur = cur.assign(hash=row_hashes(cur["time"], cur["value"]))
    per = cur.groupby("name").agg(
        n=("time", "size"),
        first=("time", "min"),
        last=("time", "max"),
        digest=("hash", "sum"),
        n_values=("n_values", "first"),
        first_time=("first_time", "first"),
        last_time=("last_time", "first"),
        stored_digest=("digest", "first"),
    )
    bad = per[
        (per["n"] != per["n_values"])
        | (per["first"] != pd.to_datetime(per["first_time"]))
        | (per["last"] != pd.to_datetime(per["last_time"]))
        | (per["digest"] != per["stored_digest"])
    ]
    if len(bad):
        raise SystemExit(f"FAILED: {side} left {len(bad)} inconsistent version summaries, e.g.\n{bad.head()}")


def check_same_state(
    ours: Mapping[str, pd.DataFrame], base: Mapping[str, pd.DataFrame], work: Workload
) -> str:
    check_valid_store("ours", ours)
    check_valid_store("baseline", base)
    for key in ("counts", "current"):
        a, b = ours[key].reset_index(drop=True), base[key].reset_index(drop=True)
        if not a.equals(b):
            diff = a.compare(b) if a.shape == b.shape else f"shapes {a.shape} vs {b.shape}"
            raise SystemExit(f"FAILED: ours and baseline differ in {key}:\n{diff}")
    counts = ours["counts"]
    want_versions = np.where(counts["name"].isin(work.changed), 2, 1)
    if not (counts["n_versions"].to_numpy() == want_versions).all():
        raise SystemExit("FAILED: unexpected version counts")
    return (
        f"identical on both sides: {len(counts)} series, {int(counts['n_versions'].sum())} versions "
        f"({int(counts['n_expired'].sum())} expired), {int(counts['n_values_all_versions'].sum())} values, "
        f"{len(ours['current'])} current values; every version summary matches its values"
    )


# --------------------------------------------------------------------------- COPY floor


def copy_floor(engine: Engine, work: Workload) -> tuple[float, float]:
    """Raw COPY of the first load's rows into the indexed ts_value table (DESIGN's floor).

    Returns (seconds for the COPY + commit, seconds to format the rows as text).
    """
    reset_schema(engine)
    specs = add_series_bulk(engine, work.names)
    with engine.begin() as conn:
        rows = []
        for spec in specs:
            frame = work.first[spec.name].set_index("time")
            n, first, last, digest = _summary(frame)
            rows.append(
                dict(timeseries_id=spec.id, n_values=n, first_time=first, last_time=last, digest=digest)
            )
        ids = dict(
            conn.execute(insert(TSVersion).returning(TSVersion.timeseries_id, TSVersion.id), rows).all()
        )
    t0 = time.perf_counter()
    values = pd.concat([work.first[s.name].assign(version_id=ids[s.id]) for s in specs], ignore_index=True)[
        ["version_id", "time", "value"]
    ]
    buffer = io.StringIO()
    values.to_csv(buffer, sep="\t", header=False, index=False, date_format="%Y-%m-%d %H:%M:%S.%f")
    payload = buffer.getvalue()
    formatting = time.perf_counter() - t0
    with engine.begin() as conn:
        t0 = time.perf_counter()
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy("COPY ts_value (version_id, time, value) FROM STDIN") as copy:
                copy.write(payload)
    seconds = time.perf_counter() - t0  # includes the commit
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TSValue)) == len(values)
    return seconds, formatting


# --------------------------------------------------------------------------- profile


def profile_ours(engine: Engine, work: Workload, top: int) -> None:
    reset_schema(engine)
    specs = add_series_bulk(engine, work.names)
    for phase, downloads in (("first load", work.first), ("refresh", work.second)):
        profiler = cProfile.Profile()
        profiler.enable()
        store(engine, specs, downloads)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        print(
            f"\n===== cProfile of ours, {phase} ({len(specs)} series) =====\n{out.getvalue()}",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------- report


def machine(engine: Engine) -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with engine.connect() as conn:
        pg = conn.scalar(text("SELECT version()"))
    return [
        f"date:     {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"machine:  {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"postgres: {pg.split(',')[0]} on {engine.url.host}:{engine.url.port} (loopback)",
        f"python:   {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"psycopg {psycopg.__version__}, pandas {pd.__version__}, numpy {np.__version__}",
    ]


def best(runs: Sequence[SideRun], phase: str) -> PhaseResult:
    results = [getattr(r, phase) for r in runs]
    if len({r.statements for r in results}) != 1:
        raise SystemExit(f"FAILED: statement counts vary between repeats: {[r.statements for r in results]}")
    return min(results, key=lambda r: r.seconds)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=260)
    parser.add_argument("--changed", type=float, default=0.1, help="fraction renormalised at the refresh")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per side, fresh schema each; best is reported"
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--seed-iterrows",
        action="store_true",
        help="baseline builds its objects with DataFrame.iterrows() like the seed's text",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile ours (to stderr)")
    args = parser.parse_args(argv)

    engine = bench_engine(args.database_url)
    if engine.dialect.name != "postgresql":
        raise SystemExit("this benchmark needs Postgres")
    counter = StatementCounter(engine)
    n, p = args.series, args.points
    small_n = max(1, n // 10)

    progress(f"generating {n} series x {p} weeks ({args.changed:.0%} renormalised at the refresh)")
    work = make_workload(n, p, args.changed)

    ours_runs, base_runs = [], []
    for r in range(args.repeat):
        progress(f"--- repeat {r + 1}/{args.repeat}")
        ours_runs.append(run_ours(engine, counter, work, ""))
        base_runs.append(run_baseline(engine, counter, work, args.seed_iterrows))
        verdict = check_same_state(ours_runs[-1].state, base_runs[-1].state, work)
        progress(verdict)
    small_runs = [run_ours(engine, counter, work.subset(small_n), f"@{small_n}") for _ in range(args.repeat)]
    progress("raw COPY floor")
    floors = [copy_floor(engine, work) for _ in range(args.repeat)]
    floor, formatting = min(floors)

    if args.profile:
        profile_ours(engine, work, 30)

    rows_first = n * p
    rows_refresh = n + len(work.changed) * (p + 1)
    phases = [
        (f"first load ({rows_first:,} rows)", "first"),
        (f"refresh ({len(work.changed)} renormalised, {rows_refresh:,} rows)", "refresh"),
    ]
    main_rows = []
    for label, phase in phases:
        o, b = best(ours_runs, phase), best(base_runs, phase)
        base_stmts = f"{b.statements:,}" + (f" ({b.bookkeeping} bookkeeping)" if b.bookkeeping else "")
        main_rows.append(
            [
                label,
                f"{o.seconds:.3f}",
                f"{b.seconds:.3f}",
                f"{b.seconds / o.seconds:.1f}x",
                f"{o.statements} + {o.copies} COPY",
                base_stmts,
            ]
        )
    scale_rows = []
    for _label, phase in phases:
        big, small = best(ours_runs, phase), best(small_runs, phase)
        scale_rows.append(
            [
                phase,
                f"{small.seconds:.3f}",
                f"{big.seconds:.3f}",
                f"{small.statements} + {small.copies} COPY",
                f"{big.statements} + {big.copies} COPY",
            ]
        )

    timing = (
        f"best of {args.repeat} runs per side, fresh schema each" if args.repeat > 1 else "one run per side"
    )
    out = [
        f"Refresh benchmark: {n} series x {p} weeks, {args.changed:.0%} renormalised at the refresh",
        *machine(engine),
        f"timing:   time.perf_counter around each phase incl. commit; {timing}",
        f"baseline: seed's update_timeseries via SQLAlchemy ORM, one commit per series, "
        f"objects built with {'DataFrame.iterrows()' if args.seed_iterrows else 'zip(index, values)'}",
        "",
        table(
            ["phase", "ours s", "baseline s", "baseline/ours", "statements ours", "statements baseline"],
            main_rows,
        ),
        "",
        f"Ours at two sizes ({small_n} and {n} series):",
        table(
            ["phase", f"ours s @{small_n}", f"ours s @{n}", f"statements @{small_n}", f"statements @{n}"],
            scale_rows,
        ),
        "",
        f"raw COPY floor: {rows_first:,} rows into the indexed ts_value table: {floor:.3f} s "
        f"(+{formatting:.3f} s to format them as text), best of {len(floors)}",
        "",
        "notes:",
        "- statements are counted with SQLAlchemy's before_cursor_execute event; our Postgres COPY goes",
        "  through the driver directly, so the COPY statements (2 per batch) are not seen by the event hook;",
        "  they are counted by wrapping forecasting.refresh._bulk_load. BEGIN/COMMIT are not counted",
        "  on either side; an executemany / insertmanyvalues page counts as one statement.",
        "- baseline 'bookkeeping' = UPDATEs of n_values/first_time/last_time/digest our schema requires",
        "  for appended series; the seed has no such statement.",
        "- outcomes checked on both sides: first load all created; "
        f"refresh {n - len(work.changed)} appended (1 row),",
        f"  {len(work.changed)} new_version ({p + 1} rows).",
        f"- end state {verdict}.",
        "- runs (s), ours first/refresh: "
        + ", ".join(f"{r.first.seconds:.3f}/{r.refresh.seconds:.3f}" for r in ours_runs)
        + "; baseline: "
        + ", ".join(f"{r.first.seconds:.3f}/{r.refresh.seconds:.3f}" for r in base_runs),
    ]
    print("\n".join(out))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
