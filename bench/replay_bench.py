"""Two years of weekly operation replayed: the time per simulated week, and whether it grows.

The replay of ``tests/test_replay.py`` (``tests/replay.py``), run for 104 weeks of the
Google Flu Trends panel on Postgres with a two-worker gunicorn service: each week
Google's answers gain a week (some weeks rescaled), the store is refreshed, every
worker must forecast from the new week, the asset-driven retrain trains a version,
every worker must serve it. Every check of the test runs every week.

Prints the median seconds per stage for each half-year block and the ratio of the
last block to the first (flat is the goal: a week must not get slower as history and
versions pile up).

    .venv/bin/python bench/replay_bench.py [--weeks 104] [--windows 2] [--database-url URL]

The database (default forecasting_bench on 127.0.0.1:5432) is created when missing; its
schema is dropped and rebuilt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from database import bench_engine
from reporting import cpu_model, table
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the replay and the server helper live with the tests

from forecasting.migrate import upgrade  # noqa: E402
from tests.replay import FIRST_WEEK, GoogleLikeAnswers, Replay, read_flu_panel  # noqa: E402
from tests.servers import gunicorn_server  # noqa: E402

TTL_S = 1.0
BLOCK = 26  # weeks per reported block
RESAMPLE_EVERY = 7  # a series' scale moves by itself every this many weeks (Google's sampling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--windows", type=int, default=2, help="backtest windows of each weekly retrain")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/forecasting_bench")
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()

    engine = bench_engine(args.database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    panel = read_flu_panel(args.shared_data)
    weeks = panel.index[panel.index >= FIRST_WEEK][: args.weeks + 1]
    if len(weeks) <= args.weeks:
        raise SystemExit(f"the panel has only {len(weeks) - 1} weeks after {FIRST_WEEK.date()}")

    print(f"# replay: {args.weeks} weeks from {weeks[0].date()}, {args.windows} backtest windows per retrain")
    print(
        f"{dt.date.today()} · {cpu_model()} · {platform.python_version()} · gunicorn 2 workers, TTL {TTL_S} s"
    )
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as folder,
        gunicorn_server(
            engine.url.render_as_string(hide_password=False), cache_ttl_s=TTL_S, workers=2
        ) as server,
    ):
        answers = GoogleLikeAnswers(panel, Path(folder))
        replay = Replay(engine, answers, server.url, server.worker_pids, ttl_s=TTL_S, windows=args.windows)
        replay.start(weeks[0])
        for number, week in enumerate(weeks[1:], 1):
            column = panel.columns[number % len(panel.columns)]
            weekly_started = time.perf_counter()
            replay.week(week, resampled=[column] if number % RESAMPLE_EVERY == 0 else [])
            replay.records[-1].seconds["week_s"] = time.perf_counter() - weekly_started
            if number % BLOCK == 0:
                print(f"  week {number}: {time.perf_counter() - started:.0f} s so far", flush=True)
    total = time.perf_counter() - started

    records = replay.records[1:]
    stages = ["week_s", "refresh_s", "pickup_data_s", "train_s", "pickup_model_s"]
    blocks = [records[i : i + BLOCK] for i in range(0, len(records), BLOCK)]
    rows = []
    for stage in stages:
        medians = [float(np.median([r.seconds[stage] for r in block])) for block in blocks]
        rows.append([stage, *(f"{m:.2f}" for m in medians), f"{medians[-1] / medians[0]:.2f}"])
    headers = ["median s", *(f"weeks {i * BLOCK + 1}-{i * BLOCK + len(b)}" for i, b in enumerate(blocks))]
    print(table([*headers, "last / first"], rows))
    outcomes: dict[str, int] = {}
    for record in replay.records:
        for outcome, n in record.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    print(
        f"total {total:.0f} s, {total / args.weeks:.1f} s per simulated week; refresh outcomes {outcomes}; "
        f"{sum(len(r.retrained) for r in replay.records)} model versions; every weekly check passed"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
