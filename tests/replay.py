"""Weeks of operation replayed: refresh, the asset-driven retrain decision and a running service.

The source is the real Google Flu Trends panel (``../shared/data``), answered as
Google Trends answers: each simulated week a CSV per series holds the panel up to
that week, scaled 0–100 to the maximum of the window so far and rounded; a new
maximum (the autumn 2009 pandemic, a new season's peak) rescales a series' whole
history, and on chosen weeks a series' scale moves by itself (Google's sampling).
The refresh, the retrain decision and training are the domain calls the Airflow
tasks make; the service is gunicorn with two workers and a short TTL.

After every week the replay checks what a user relies on (:meth:`Replay.check_week`)
and records how long each stage took. ``tests/test_replay.py`` runs it in CI;
``bench/replay_bench.py`` runs it for two years and reports the time per week.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests
from sqlalchemy import Engine, func, select

from forecasting.apply import apply_document
from forecasting.batches import changed_series, record_states
from forecasting.configs import models_to_train
from forecasting.models import MLModelVersion, TimeSeries, TSVersion
from forecasting.refresh import refresh
from forecasting.sources import DataSource
from forecasting.sources.csv_file import CsvSource
from forecasting.sources.csv_roots import csv_roots
from forecasting.training import train_model
from tests.servers import run_cli
from tests.store_checks import add_corrupt_version

FLU_FILE = Path("google-flu-trends") / "us-historic-v2.txt"
MODEL = "flu-replay"
TARGETS = [f"flu-region-{n}" for n in range(1, 7)]
FEATURES = ["flu-region-7", "flu-region-8"]
FIRST_WEEK = pd.Timestamp("2009-05-31")  # six years of history; the 2009 pandemic peaks in October
PICKUP_BUDGET_S = 20.0  # beyond the TTL: a worker's check, a child parse of a new version, the forecast


def read_flu_panel(shared_data: Path) -> pd.DataFrame:
    """HHS regions 1–8 of the Flu Trends file, one column each, indexed by week."""
    path = shared_data / FLU_FILE
    lines = path.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Date,") or line.startswith('"Date"'))
    frame = pd.read_csv(path, skiprows=header, parse_dates=["Date"]).set_index("Date")
    regions = {f"HHS Region {n} (": f"flu-region-{n}" for n in range(1, 9)}
    columns = {c: name for c in frame.columns for prefix, name in regions.items() if c.startswith(prefix)}
    return frame[list(columns)].rename(columns=columns).astype(float)


class GoogleLikeAnswers:
    """Writes, for a week, each series' answer as Google Trends would give it (see module docstring)."""

    def __init__(self, panel: pd.DataFrame, folder: Path):
        self.panel = panel
        self.folder = folder
        self.drift = dict.fromkeys(panel.columns, 1.0)
        self.published: dict[str, pd.DataFrame] = {}

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.csv"

    def sources(self) -> dict[str, DataSource]:
        """The csv source reading the answers' folder, as FORECASTING_CSV_ROOTS set to it would."""
        return {CsvSource.name: CsvSource(csv_roots(str(self.folder)))}

    def publish(self, week: pd.Timestamp, resampled: Iterable[str] = ()) -> dict[str, str]:
        """Write every series' answer up to ``week``; return each series' expected refresh outcome."""
        for name in resampled:
            self.drift[name] *= 1.07  # Google's sample moved: the same history on another scale
        window = self.panel[self.panel.index <= week]
        expected = {}
        for name in self.panel.columns:
            values = window[name]
            scaled = np.round(100 * values / (values.max() * self.drift[name])).astype(float)
            answer = pd.DataFrame({"time": values.index, "value": scaled.to_numpy()})
            answer.to_csv(self.path(name), index=False, date_format="%Y-%m-%d")
            expected[name] = _outcome(self.published.get(name), answer)
            self.published[name] = answer
        return expected


def _outcome(before: pd.DataFrame | None, now: pd.DataFrame) -> str:
    """The refresh contract, decided independently: created, appended or new_version."""
    if before is None:
        return "created"
    merged = before.merge(now, on="time", how="left", suffixes=("_before", "_now"))
    return "appended" if (merged["value_before"] == merged["value_now"]).all() else "new_version"


def replay_document(answers: GoogleLikeAnswers) -> dict[str, Any]:
    """Series (csv answers), configs and the model the replay serves."""
    return {
        "series": [
            {"name": name, "source": "csv", "params": {"path": str(answers.path(name))}}
            for name in TARGETS + FEATURES
        ],
        "preprocessing_configs": [
            {
                "name": "flu-weekly",
                "params": {
                    "horizon": [1, 2, 3, 4],
                    "target_lags": [1, 2, 3, 4, 52],
                    "feature_lags": [1, 2],
                    "include_lag_0": True,
                },
            }
        ],
        "ml_configs": [
            {
                "name": "flu-lgbm",
                "params": {
                    "n_estimators": 60,
                    "learning_rate": 0.1,
                    "num_leaves": 15,
                    "min_child_samples": 10,
                    "n_jobs": 1,
                    "random_state": 0,
                },
            }
        ],
        "data_configs": [{"name": "flu-regions", "targets": TARGETS, "features": FEATURES}],
        "models": [
            {
                "name": MODEL,
                "ml_config": "flu-lgbm",
                "data_config": "flu-regions",
                "preprocessing_config": "flu-weekly",
            }
        ],
    }


@dataclass
class WeekRecord:
    week: pd.Timestamp
    outcomes: dict[str, int] = field(default_factory=dict)  # outcome -> number of series
    retrained: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class Replay:
    """One store, one service, the answers; :meth:`week` runs a simulated week and checks it."""

    def __init__(
        self,
        engine: Engine,
        answers: GoogleLikeAnswers,
        service_url: str,
        worker_pids: Callable[[], set[int]],
        *,
        ttl_s: float,
        windows: int,
    ):
        self.engine = engine
        self.answers = answers
        self.url = service_url
        self.worker_pids = worker_pids
        self.ttl_s = ttl_s
        self.windows = windows
        self.records: list[WeekRecord] = []

    def start(self, week: pd.Timestamp) -> WeekRecord:
        """Week 0: define everything, download the first versions, train the first model version."""
        record = WeekRecord(week)
        expected = self.answers.publish(week)
        apply_document(self.engine, replay_document(self.answers), self.answers.sources())
        self._refresh(record, expected)
        version = self._train(record)
        self._wait_for_every_worker(record, "pickup_first_s", version, week)
        self.check_agreement(version)
        self.records.append(record)
        return record

    def week(self, week: pd.Timestamp, *, resampled: Iterable[str] = (), damage: bool = False) -> WeekRecord:
        """Google answers one more week; refresh; serve it; retrain as the asset event asks; serve that.

        ``damage``: after the retrain, a newer ``ready`` version with a damaged artifact
        appears (a row damaged in the database); every reader must move past it together.
        """
        record = WeekRecord(week)
        expected = self.answers.publish(week, resampled)
        served_before = self.served_version()
        changed = self._refresh(record, expected)
        # Until the retrain runs, the served version forecasts from the new week.
        self._wait_for_every_worker(record, "pickup_data_s", served_before, week)
        self.check_agreement(served_before, cli=False)  # the CLI is asked once a week, after the retrain
        with self.engine.connect() as conn:
            planned = models_to_train(conn, [], changed)
        assert planned == [MODEL], f"the asset event of {changed} planned {planned}"
        version = self._train(record)
        if damage:
            add_corrupt_version(self.engine, version)
        self._wait_for_every_worker(record, "pickup_model_s", version, week)
        self.check_agreement(version)
        self.records.append(record)
        return record

    def _refresh(self, record: WeekRecord, expected: dict[str, str]) -> list[str]:
        started = time.perf_counter()
        before = record_states(self.engine)
        results = refresh(self.engine, sources=self.answers.sources())
        changed = changed_series(self.engine, before)
        record.seconds["refresh_s"] = time.perf_counter() - started
        outcomes = {r.series: r.outcome for r in results}
        assert outcomes == expected, f"week {record.week.date()}: outcomes {outcomes}, expected {expected}"
        for r in results:
            assert r.error is None, r.error
            assert r.outcome != "appended" or r.rows_added == 1, r
        record.outcomes = {o: sum(v == o for v in outcomes.values()) for o in sorted(set(outcomes.values()))}
        assert sorted(changed) == sorted(expected)  # every series gained a week
        self.check_store(record.week)
        return changed

    def _train(self, record: WeekRecord) -> int:
        started = time.perf_counter()
        result = train_model(self.engine, MODEL, windows=self.windows)
        record.seconds["train_s"] = time.perf_counter() - started
        assert result.status == "ready", result.reason
        record.retrained.append(MODEL)
        return result.version_id

    def check_store(self, week: pd.Timestamp) -> None:
        """One current version per series ending at ``week``; no model version left in ``training``."""
        with self.engine.connect() as conn:
            current = conn.execute(
                select(TimeSeries.name, func.count(TSVersion.id), func.max(TSVersion.last_time))
                .join(TSVersion, (TSVersion.timeseries_id == TimeSeries.id) & ~TSVersion.expired)
                .group_by(TimeSeries.name)
            ).all()
            training = conn.scalar(
                select(func.count()).select_from(MLModelVersion).where(MLModelVersion.status == "training")
            )
        assert {name: (n, pd.Timestamp(last)) for name, n, last in current} == {
            name: (1, week) for name in TARGETS + FEATURES
        }
        assert training == 0

    def served_version(self) -> int:
        response = requests.get(f"{self.url}/api/model/{MODEL}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["served_version"]

    def check_agreement(self, version: int, *, cli: bool = True) -> None:
        """The CLI (if ``cli``), the listing and the forecast agree on the served version and its lineage."""
        if cli:
            listed = run_cli(self._url(), "models", "--json", timeout_s=120)
            assert listed.returncode == 0, listed.stderr
            assert [(m["name"], m["served_version"]) for m in json.loads(listed.stdout)] == [(MODEL, version)]
        assert self.served_version() == version
        forecast = requests.get(f"{self.url}/api/model/{MODEL}/predict", timeout=30).json()
        assert forecast["model_version"] == version
        with self.engine.connect() as conn:
            current = dict(
                conn.execute(
                    select(TimeSeries.name, TSVersion.id)
                    .join(TSVersion, TSVersion.timeseries_id == TimeSeries.id)
                    .where(~TSVersion.expired)
                ).all()
            )
            stored = set(conn.scalars(select(TSVersion.id)))
        assert forecast["data_versions"] == current
        assert set(forecast["trained_on_data_versions"].values()) <= stored
        with self.engine.connect() as conn:
            training = conn.scalar(
                select(func.count()).select_from(MLModelVersion).where(MLModelVersion.status == "training")
            )
        assert training == 0

    def _url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def _wait_for_every_worker(
        self, record: WeekRecord, stage: str, version: int, week: pd.Timestamp
    ) -> None:
        """Every worker serves ``version`` forecasting from ``week`` within the TTL plus the load budget."""
        started = time.monotonic()
        origin = week.isoformat()
        workers = self.worker_pids()
        seen: dict[int, dict[str, Any]] = {}
        while True:
            answers = _concurrently(lambda: _predict(self.url), 8)
            for status, body in answers:
                assert status == 200, body
            ready = _concurrently(lambda: requests.get(f"{self.url}/readyz", timeout=30).json(), 8)
            for document in ready:
                assert "worker" in document, document
                seen[document["worker"]["pid"]] = document["worker"]["held"].get(MODEL) or {}
            done = all(
                seen.get(pid, {}).get("model_version") == version
                and seen.get(pid, {}).get("forecast_from") == origin
                for pid in workers
            )
            answered = all(
                body["model_version"] == version and {f["last_date"] for f in body["forecasts"]} == {origin}
                for _, body in answers
            )
            if done and answered and self.served_version() == version:  # the listing agrees too
                break
            waited = time.monotonic() - started
            assert waited < self.ttl_s + PICKUP_BUDGET_S, (
                f"week {week.date()}: after {waited:.1f} s the workers hold {seen}, "
                f"wanted version {version} from {origin}"
            )
            time.sleep(0.1)
        record.seconds[stage] = time.monotonic() - started
        for _, body in answers:
            assert {f["series"] for f in body["forecasts"]} == set(TARGETS)


def _predict(url: str) -> tuple[int, Any]:
    response = requests.get(f"{url}/api/model/{MODEL}/predict", timeout=30, headers={"Connection": "close"})
    return response.status_code, response.json()


def _concurrently(call: Callable[[], Any], n: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


def summary(records: list[WeekRecord]) -> dict[str, Any]:
    """Totals over the replay: outcomes, versions trained, and the median and worst time per stage."""
    outcomes: dict[str, int] = {}
    for record in records:
        for outcome, n in record.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    stages = sorted({stage for record in records for stage in record.seconds})
    return {
        "weeks": len(records) - 1,
        "outcomes": outcomes,
        "model_versions": sum(len(r.retrained) for r in records),
        "seconds": {
            stage: {
                "median": round(
                    float(np.median([r.seconds[stage] for r in records if stage in r.seconds])), 2
                ),
                "max": round(max(r.seconds[stage] for r in records if stage in r.seconds), 2),
            }
            for stage in stages
        },
    }
