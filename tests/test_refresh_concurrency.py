"""Concurrent refreshes of the same series on real Postgres behave as if serialised."""

from __future__ import annotations

import multiprocessing

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text

from forecasting.db import make_engine
from forecasting.models import TSValue, TSVersion
from forecasting.refresh import store
from forecasting.series import series_specs
from tests.store_checks import add_many, assert_store_consistent, weekly

N_SERIES = 50
N_PROCESSES = 8


def download_of(worker: int, series_index: int) -> pd.DataFrame:
    """Workers disagree on purpose: odd ones renormalise history, all add weeks."""
    values = [(series_index + k) % 100 for k in range(20 + worker)]
    if worker % 2:
        values = [v + 1 for v in values]
    return weekly(values)


def refresh_worker(
    url: str, worker: int, start: multiprocessing.Barrier, queue: multiprocessing.Queue
) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        specs = series_specs(conn, [f"c{i}" for i in range(N_SERIES)])
    downloads = {spec.name: download_of(worker, i) for i, spec in enumerate(specs)}
    start.wait()
    try:
        results = store(engine, specs, downloads)
        queue.put(sorted((r.series, r.outcome) for r in results))
    except Exception as exc:
        queue.put(f"worker {worker} failed: {exc!r}")
    engine.dispose()


@pytest.mark.postgres
def test_eight_processes_refreshing_the_same_series_leave_one_current_version_each(pg_engine: Engine) -> None:
    engine = pg_engine
    add_many(engine, [f"c{i}" for i in range(N_SERIES)])
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Barrier(N_PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=refresh_worker, args=(url, w, start, queue)) for w in range(N_PROCESSES)]
    for w in workers:
        w.start()
    outcomes = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0

    assert not [o for o in outcomes if isinstance(o, str)]
    assert all(len(o) == N_SERIES and all(outcome != "error" for _, outcome in o) for o in outcomes)
    created = sum(outcome == "created" for o in outcomes for _, outcome in o)
    assert created == N_SERIES  # exactly one worker created each series' first version
    with engine.connect() as conn:
        current = conn.execute(
            select(TSVersion.timeseries_id, func.count())
            .where(~TSVersion.expired)
            .group_by(TSVersion.timeseries_id)
        ).all()
        duplicates = conn.scalar(
            text(
                "SELECT count(*) FROM "
                "(SELECT version_id, time FROM ts_value GROUP BY 1, 2 HAVING count(*) > 1) AS d"
            )
        )
        n_versions = conn.scalar(select(func.count()).select_from(TSVersion))
        n_values = conn.scalar(select(func.count()).select_from(TSValue))
    assert len(current) == N_SERIES and all(count == 1 for _, count in current)
    assert duplicates == 0
    new_versions = sum(outcome == "new_version" for o in outcomes for _, outcome in o)
    assert n_versions == N_SERIES + new_versions  # every reported outcome happened, once
    assert n_values > 0
    assert_store_consistent(engine)
