"""Forecast pages: server-rendered HTML with an inline SVG chart, readable without JavaScript.

A model's page shows the same cached forecast ``/api/model/<name>/predict`` serves,
so the page and the API never disagree about what the model predicts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from flask import Blueprint, render_template

from forecasting.backtest import METHODS
from forecasting.dataset import Dataset, load_dataset
from forecasting.registry import model_versions, models_overview
from serving import context
from serving.charts import ForecastPoint, SeriesData, build_chart

bp = Blueprint("pages", __name__)

HISTORY = pd.DateOffset(years=2)


@bp.get("/")
def index():
    """Every model with its served version and MASE, in one query."""
    with context.engine().connect() as conn:
        models = models_overview(conn)
    return render_template("index.html", models=models)


@bp.get("/models/<name>")
def model(name: str):
    """The served forecast (404 for an unknown or untrained model), its backtest and lineage."""
    held = context.cache().get(name)
    with context.engine().connect() as conn:
        data = load_dataset(conn, held.version.data_config_id)
        versions = model_versions(conn, name)
    document = held.document
    backtest = held.version.meta.get("backtest") or {}
    return render_template(
        "model.html",
        document=document,
        chart=build_chart(chart_series(held.version.meta["targets"], document["forecasts"], data)),
        backtest=backtest,
        backtest_rows=backtest_rows(backtest),
        versions=versions,
    )


def chart_series(targets: list[str], forecasts: list[dict[str, Any]], data: Dataset) -> list[SeriesData]:
    """Each target's last years of history, and its forecast drawn on from the last observation."""
    frame = data.frame[data.frame["series"].isin(targets)]
    frame = frame[frame["time"] > frame["time"].max() - HISTORY].sort_values("time")
    series = []
    for name in targets:
        history = frame[frame["series"] == name]
        rows = [r for r in forecasts if r["series"] == name]
        start = (
            [ForecastPoint(pd.Timestamp(rows[0]["last_date"]), *[rows[0]["last_value"]] * 3)] if rows else []
        )
        ahead = [
            ForecastPoint(pd.Timestamp(r["target_date"]), r["prediction"], r["lower"], r["upper"])
            for r in rows
        ]
        series.append(SeriesData(name, list(zip(history["time"], history["value"])), start + ahead))
    return series


def backtest_rows(backtest: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded metrics pivoted to one row per horizon: the model's MASE beside the baselines'."""
    rows: dict[Any, dict[str, Any]] = {}
    for metric in backtest.get("metrics") or []:
        row = rows.setdefault(metric["horizon"], {"horizon": metric["horizon"], "n": metric["n"]})
        row[metric["method"]] = metric["mase"]
        if metric["method"] == "model":
            row["mae"] = metric["mae"]
    interval = backtest.get("interval") or {}
    halfwidths, coverage = interval.get("halfwidth") or {}, interval.get("coverage") or {}
    return [
        {
            **{m: None for m in METHODS},
            **row,
            "halfwidth": halfwidths.get(str(row["horizon"])),
            "coverage": coverage.get(str(row["horizon"])),
        }
        for row in rows.values()
    ]


@bp.app_template_filter("figure")
def figure(value: Any, digits: int = 3) -> str:
    """A metric for a table cell; a missing one (no backtest, baseline or interval) as a dash."""
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


@bp.app_template_filter("percent")
def percent(value: Any) -> str:
    """A share as a whole percentage; a missing one (a single window, no backtest) as a dash."""
    return f"{value:.0%}" if isinstance(value, int | float) else "–"


@bp.app_template_filter("when")
def when(value: Any) -> str:
    """A date, or date and minute when the time of day matters (a weekly point is at midnight)."""
    if value is None:
        return ""
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d" if stamp == stamp.normalize() else "%Y-%m-%d %H:%M")
