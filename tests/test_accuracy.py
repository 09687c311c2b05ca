"""Accuracy on real data: the Google Flu Trends panel of ../shared/data, through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from forecasting.apply import apply_document
from forecasting.db import make_engine
from forecasting.migrate import upgrade
from forecasting.refresh import refresh
from forecasting.sources.csv_file import CsvSource
from forecasting.sources.csv_roots import csv_roots
from forecasting.tables import format_table
from forecasting.training import train_model

REGIONS = ["United States", "California", "Texas", "New York", "Florida", "Illinois", "Georgia", "Ohio"]


def test_flu_trends_forecast_beats_the_naive_baselines(shared_data: Path, tmp_path: Path) -> None:
    """Flu estimates 1-4 weeks ahead, 13 windows (the last year): MASE < 1, better than both baselines."""
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'flu.db'}")
    upgrade(engine)
    path = str(shared_data / "google-flu-trends" / "us-historic-v2.txt")
    sources = {CsvSource.name: CsvSource(csv_roots(str(shared_data)))}  # FORECASTING_CSV_ROOTS=shared_data
    names = [region.lower().replace(" ", "-") for region in REGIONS]
    apply_document(
        engine,
        {
            "series": [
                {"name": name, "source": "csv", "params": {"path": path, "column": region}}
                for name, region in zip(names, REGIONS)
            ],
            "preprocessing_configs": [
                {
                    "name": "flu",
                    "params": {
                        "horizon": [1, 2, 3, 4],
                        "target_lags": [1, 2, 3, 4, 52],
                        "include_lag_0": True,
                    },
                }
            ],
            "ml_configs": [
                {
                    "name": "lgbm",
                    "params": {"n_estimators": 200, "learning_rate": 0.05, "n_jobs": 1, "random_state": 0},
                }
            ],
            "data_configs": [{"name": "flu-panel", "targets": names}],
            "models": [
                {
                    "name": "flu",
                    "ml_config": "lgbm",
                    "data_config": "flu-panel",
                    "preprocessing_config": "flu",
                }
            ],
        },
        sources,
    )
    assert {r.outcome for r in refresh(engine, sources=sources)} == {"created"}

    result = train_model(engine, "flu", windows=13, gate=True)
    print(format_table(result.backtest.table()))

    assert result.status == "ready", result.reason
    metrics = pd.DataFrame(result.backtest.as_dict()["metrics"])
    overall = metrics[metrics["horizon"] == "all"].set_index("method")
    assert overall.loc["model", "n"] == len(REGIONS) * 13 * 4
    assert overall.loc["model", "mase"] < 1
    assert overall.loc["model", "mase"] < overall.loc["seasonal_naive", "mase"]
    assert overall.loc["model", "mae"] < overall.loc["last_value", "mae"]
    engine.dispose()
