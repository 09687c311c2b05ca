# mlforecast lags (verified in mlforecast 1.1.0 + coreforecast 0.0.20): with T the last observed week, every
# step k = 1..H of predict(h=H) sees lag l = y[T+1-l], so lag 1 is the last observed value y[T]; the step-k
# model of fit(max_horizon=H) is trained on rows t with features y[t-l] and target y[t+k-1], predicting T+k.
"""mlforecast benchmark peer: the lag feature build and the direct multi-horizon LightGBM fit, by mlforecast.

Why this is a separate script with its own env: mlforecast 1.1.x requires pandas<3 while the project runs
pandas 3.1.1, so the peer is installed into ``.venv-bench`` from ``bench/requirements-peer.txt`` and run
only with that interpreter, as a subprocess; it exchanges nothing with the project but a CSV and a JSON file.

Input: a long CSV with columns ``series,time,value`` (weekly, ``time`` an ISO date). It is renamed to
mlforecast's ``unique_id,ds,y``; the frequency is ``pd.infer_freq`` of one series' dates (else 'W-SUN').

Measured (wall clock, ``time.perf_counter``):

- ``preprocess_s``: best of ``--repeat`` runs of
  ``MLForecast(models=[], freq, lags, num_threads=1).preprocess(df, dropna=True)`` on the whole panel.
- per cutoff c: one ``MLForecast(models={'lgbm': LGBMRegressor(**params)}, freq, lags, num_threads=1)
  .fit(train, max_horizon=H)`` on the rows with ``ds <= c`` (direct strategy: one model per step), then
  ``predict(h=H)``; ``fit_s`` is the sum over cutoffs.

Run:  .venv-bench/bin/python bench/mlforecast_peer.py --panel PANEL.csv --lags 1,2,3,4,52 --horizon 12
      --cutoffs 2023-01-01,2023-04-02 --params '{"n_estimators":100,"num_leaves":31,"n_jobs":1}'
      [--repeat 3] --output OUT.json
Progress goes to stderr, the results to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from mlforecast import MLForecast

DEFAULT_FREQ = "W-SUN"
MODEL_NAME = "lgbm"


class PeerError(Exception):
    """A problem with the inputs, reported as one line on stderr and exit status 2."""


def log(message: str) -> None:
    print(f"[mlforecast_peer] {message}", file=sys.stderr, flush=True)


def parse_lags(text: str) -> list[int]:
    try:
        lags = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise PeerError(f"--lags must be comma-separated integers, got {text!r}") from exc
    if not lags or any(lag < 1 for lag in lags) or len(set(lags)) != len(lags):
        raise PeerError(f"--lags must be distinct positive integers, got {text!r}")
    return lags


def parse_cutoffs(text: str) -> list[pd.Timestamp]:
    try:
        cutoffs = [pd.Timestamp(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise PeerError(f"--cutoffs must be comma-separated ISO dates, got {text!r}") from exc
    if not cutoffs:
        raise PeerError("--cutoffs is empty")
    return cutoffs


def parse_params(text: str) -> dict[str, Any]:
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PeerError(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise PeerError("--params must be a JSON object of LGBMRegressor keyword arguments")
    return params


def load_panel(path: Path) -> pd.DataFrame:
    """The panel as mlforecast's ``unique_id, ds, y``, sorted by series then time."""
    try:
        raw = pd.read_csv(path, dtype={"series": str, "value": float})
    except FileNotFoundError as exc:
        raise PeerError(f"panel not found: {path}") from exc
    missing = {"series", "time", "value"} - set(raw.columns)
    if missing:
        raise PeerError(f"panel {path} lacks column(s) {sorted(missing)}; it needs series,time,value")
    df = raw[["series", "time", "value"]].rename(columns={"series": "unique_id", "time": "ds", "value": "y"})
    df["ds"] = pd.to_datetime(df["ds"])
    if df.duplicated(["unique_id", "ds"]).any():
        raise PeerError(f"panel {path} has duplicate (series, time) rows")
    return df.sort_values(["unique_id", "ds"], ignore_index=True)


def infer_freq(df: pd.DataFrame) -> str:
    """``pd.infer_freq`` on the dates of the first series with at least 3 rows, else 'W-SUN'."""
    for _, dates in df.groupby("unique_id", sort=True)["ds"]:
        if len(dates) >= 3:
            freq = pd.infer_freq(pd.DatetimeIndex(dates))
            return freq or DEFAULT_FREQ
    return DEFAULT_FREQ


def check_train(train: pd.DataFrame, all_series: pd.Index, cutoff: pd.Timestamp, min_rows: int) -> None:
    """Every series needs ``max(lags) + horizon`` rows up to the cutoff.

    That many rows give each step model at least one training row from the series (one row with all
    lags known and the target ``horizon - 1`` weeks later still inside the training window).
    """
    counts = train.groupby("unique_id").size().reindex(all_series, fill_value=0)
    short = counts[counts < min_rows]
    if not short.empty:
        shown = ", ".join(f"{sid} ({n} rows)" for sid, n in short.head(10).items())
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        raise PeerError(
            f"cutoff {cutoff.date().isoformat()} leaves {len(short)} series with fewer than {min_rows} rows "
            f"(max(lags) + horizon): {shown}{more}"
        )


def time_preprocess(df: pd.DataFrame, freq: str, lags: list[int], repeat: int) -> dict[str, Any]:
    """Best-of-``repeat`` wall time of mlforecast's single-horizon feature build on the whole panel."""
    times: list[float] = []
    prep: pd.DataFrame | None = None
    for i in range(repeat):
        fcst = MLForecast(models=[], freq=freq, lags=lags, num_threads=1)
        start = time.perf_counter()
        prep = fcst.preprocess(df, dropna=True)
        times.append(time.perf_counter() - start)
        log(f"preprocess run {i + 1}/{repeat}: {times[-1]:.3f}s")
    assert prep is not None
    return {
        "preprocess_s": min(times),
        "preprocess_s_all": times,
        "preprocess_rows": int(prep.shape[0]),
        "preprocess_columns": [str(c) for c in prep.columns],
    }


def fit_predict_cutoff(
    df: pd.DataFrame,
    cutoff: pd.Timestamp,
    freq: str,
    lags: list[int],
    horizon: int,
    params: dict[str, Any],
) -> tuple[float, float, int, list[dict[str, Any]]]:
    """Fit on ``ds <= cutoff``, predict ``horizon`` steps: (fit_s, predict_s, train rows, prediction rows)."""
    train = df[df["ds"] <= cutoff]
    fcst = MLForecast(
        models={MODEL_NAME: lightgbm.LGBMRegressor(**params)}, freq=freq, lags=lags, num_threads=1
    )
    start = time.perf_counter()
    fcst.fit(train, max_horizon=horizon)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = fcst.predict(h=horizon)
    predict_s = time.perf_counter() - start

    n_series = train["unique_id"].nunique()
    if len(pred) != n_series * horizon:
        raise RuntimeError(f"predict returned {len(pred)} rows, expected {n_series} x {horizon}")
    pred = pred.sort_values(["unique_id", "ds"], ignore_index=True)
    steps = pred.groupby("unique_id").cumcount().to_numpy() + 1
    cutoff_iso = cutoff.date().isoformat()
    rows = [
        {"series": str(sid), "cutoff": cutoff_iso, "time": ts, "step": int(step), "prediction": float(value)}
        for sid, ts, step, value in zip(
            pred["unique_id"].to_numpy(),
            pred["ds"].dt.strftime("%Y-%m-%d").to_numpy(),
            steps,
            pred[MODEL_NAME].to_numpy(dtype=np.float64),
        )
    ]
    return fit_s, predict_s, len(train), rows


def versions() -> dict[str, str]:
    return {
        "mlforecast": version("mlforecast"),
        "pandas": pd.__version__,
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
        "coreforecast": version("coreforecast"),
        "utilsforecast": version("utilsforecast"),
        "python": platform.python_version(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    lags = parse_lags(args.lags)
    cutoffs = parse_cutoffs(args.cutoffs)
    params = parse_params(args.params)
    if args.horizon < 1:
        raise PeerError("--horizon must be at least 1")
    if args.repeat < 1:
        raise PeerError("--repeat must be at least 1")

    df = load_panel(args.panel)
    freq = infer_freq(df)
    n_series = int(df["unique_id"].nunique())
    log(f"panel {args.panel}: {n_series} series, {len(df)} rows, freq {freq}, lags {lags}, h {args.horizon}")
    all_series = pd.Index(df["unique_id"].unique())
    for cutoff in cutoffs:  # fail before anything is timed
        check_train(df[df["ds"] <= cutoff], all_series, cutoff, max(lags) + args.horizon)

    result: dict[str, Any] = {
        "peer": "mlforecast",
        "versions": versions(),
        "freq": freq,
        "lags": lags,
        "horizon": args.horizon,
        "cutoffs": [c.date().isoformat() for c in cutoffs],
        "params": params,
        "repeat": args.repeat,
        "n_series": n_series,
        "n_rows": int(len(df)),
    }
    result.update(time_preprocess(df, freq, lags, args.repeat))
    log(f"preprocess best {result['preprocess_s']:.3f}s, {result['preprocess_rows']} rows")

    fit_times: list[float] = []
    predict_times: list[float] = []
    train_rows: list[int] = []
    predictions: list[dict[str, Any]] = []
    for i, cutoff in enumerate(cutoffs):
        fit_s, predict_s, n_train, rows = fit_predict_cutoff(df, cutoff, freq, lags, args.horizon, params)
        fit_times.append(fit_s)
        predict_times.append(predict_s)
        train_rows.append(n_train)
        predictions.extend(rows)
        log(
            f"cutoff {i + 1}/{len(cutoffs)} {cutoff.date().isoformat()}: {n_train} train rows, "
            f"fit {fit_s:.3f}s, predict {predict_s:.3f}s"
        )
    result.update(
        {
            "fit_s": sum(fit_times),
            "fit_s_per_cutoff": fit_times,
            "predict_s_per_cutoff": predict_times,
            "train_rows_per_cutoff": train_rows,
            "predictions": predictions,
        }
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panel", type=Path, required=True, help="long CSV: series,time,value")
    parser.add_argument("--lags", required=True, help="comma-separated lags, e.g. 1,2,3,4,52")
    parser.add_argument("--horizon", type=int, required=True, help="H: steps ahead, one model per step")
    parser.add_argument("--cutoffs", required=True, help="comma-separated ISO dates; train on ds <= cutoff")
    parser.add_argument("--params", default="{}", help="JSON object of LGBMRegressor keyword arguments")
    parser.add_argument("--repeat", type=int, default=3, help="preprocess runs; the best is reported")
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON results")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except PeerError as exc:
        print(f"mlforecast_peer: error: {exc}", file=sys.stderr)
        return 2
    args.output.write_text(json.dumps(result) + "\n")
    log(f"wrote {args.output} ({len(result['predictions'])} predictions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
