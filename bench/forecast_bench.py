"""Forecasting benchmark: our lag features and multi-horizon backtest against mlforecast.

One run, same deterministic panel on both sides, ratios printed side by side:

1. Panel: N series x P weekly integer values 0-100 from 2019-01-06 (a Sunday, like
   Google Trends weeks): level + yearly sine (random phase and amplitude) + linear
   trend + random-walk drift + noise, each series scaled so its maximum is 100 and
   rounded. ``refresh_bench.make_workload`` builds two refresh downloads per series
   through the refresh code, so it is not reused; :func:`make_panel_frame` follows
   its recipe. Ours gets it as a ``Dataset`` (every series a target, no features),
   the peer as a CSV ``series,time,value``.
2. Feature build, best of ``--repeat``: ours ``make_panel`` + ``build_training`` with
   horizon 1 and target lags 1,2,3,4,52 against mlforecast's
   ``preprocess(dropna=True)`` with the same lags (``bench/mlforecast_peer.py``).
3. Multi-horizon h = 1..12 with the same LightGBM params on both sides, on the 4
   expanding-window cut-offs our ``forecasting.backtest.backtest`` picks (each leaves
   12 weeks to score); the peer gets exactly those cut-offs. Ours runs (a) all
   horizons stacked (one model on 12x rows) and (b) ``horizons_per_origin: 1`` (each
   origin kept for one random horizon); the peer (mlforecast's direct strategy, one
   model per step) runs (i) with lags 1,2,3,4,52 and (ii) with lags 2,3,4,5,53.
   MAE on both sides over the same (series, target week) points, against the panel.

Why peer run (ii): the two libraries number lags differently. Ours follows the
seed's convention: the row at origin week T has ``target_lag_k`` = value at T-k and
``y`` = value at T+h, so at forecast time (T = the last observed week) our lag 1 is
the week *before* the last observed week, and the last observed value itself is
not a feature. mlforecast's lag l at prediction reads y[T+1-l], so its lag 1 is the
last observed week (verified in the header of bench/mlforecast_peer.py). With the
same lag numbers the peer therefore sees one more recent week than ours; lags
2,3,4,5,53 give the peer exactly the observations ours reads. Both comparisons are
reported. The same shift explains the feature-build row counts: ours drops each
series' last week (its y at T+1 is unknown) as well as the first 52, mlforecast
drops only rows with a missing lag (its y is the row's own value, never missing
here), so with lags 1..52 it has one row more per series, and none more with 2..53.

Both sides fit single-threaded (``n_jobs=1``; mlforecast ``num_threads=1``). Ours
adds ``verbose=-1`` internally; the peer gets it too so LightGBM prints nothing, so
the effective LightGBM params are identical. Timings are wall clock
(``time.perf_counter``): ours is the whole ``backtest()`` call (panel, features per
window, fit, predict, scoring); the peer's is its ``fit_s`` + the sum of its
``predict_s`` (it times only ``fit`` and ``predict``, not reading or slicing data).

Run:  .venv/bin/python bench/forecast_bench.py [--series 1000] [--points 260] [--repeat 3]
      [--peer-python .venv-bench/bin/python]
The peer env:  python3 -m venv .venv-bench && .venv-bench/bin/pip install -q -r bench/requirements-peer.txt
Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd

from forecasting.backtest import BacktestResult, backtest
from forecasting.configs import preprocessing_params
from forecasting.dataset import Dataset
from forecasting.features import build_training, make_panel

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPT = ROOT / "bench" / "mlforecast_peer.py"
DEFAULT_PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
START = "2019-01-06"  # a Sunday: Google Trends weeks start on Sunday
SEED = 20240607
LAGS = (1, 2, 3, 4, 52)
SHIFTED_LAGS = tuple(k + 1 for k in LAGS)  # the peer reading exactly the weeks ours reads
HORIZON = 12
WINDOWS = 4
ML_PARAMS = {"n_estimators": 100, "learning_rate": 0.05, "num_leaves": 31, "n_jobs": 1}
PEER_PARAMS = {**ML_PARAMS, "verbose": -1}  # what ours passes to LGBMRegressor
GOAL_FEATURES = 0.5  # ours / peer time, at most
GOAL_SPEEDUP = 5.0  # peer / ours time, at least, at MAE <= the peer's

_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def make_panel_frame(n_series: int, points: int, seed: int = SEED) -> pd.DataFrame:
    """Long ``series, time, value``: deterministic Google-Trends-like weekly integers 0-100."""
    rng = np.random.default_rng(seed)
    weeks = np.arange(points)[None, :]
    level = rng.uniform(20, 60, size=(n_series, 1))
    amplitude = rng.uniform(0, 20, size=(n_series, 1))
    phase = rng.uniform(0, 1, size=(n_series, 1))
    slope = rng.normal(0, 0.04, size=(n_series, 1))
    drift = np.cumsum(rng.normal(0, 1.0, size=(n_series, points)), axis=1)
    noise = rng.normal(0, 3, size=(n_series, points))
    season = amplitude * np.sin(2 * np.pi * (weeks / 52.18 + phase))
    raw = np.clip(level + slope * weeks + season + drift + noise, 0, None)
    peak = np.maximum(raw.max(axis=1, keepdims=True), 1e-9)
    values = np.clip(np.round(raw * 100.0 / peak), 0, 100)
    times = pd.date_range(START, periods=points, freq="7D").astype("datetime64[us]")
    names = [f"bench-{i:05d}" for i in range(n_series)]
    return pd.DataFrame(
        {
            "series": np.repeat(np.asarray(names, dtype=object), points),
            "time": np.tile(times.to_numpy(), n_series),
            "value": values.reshape(-1),
        }
    ).astype({"series": str, "value": float})


def write_peer_csv(frame: pd.DataFrame, path: Path) -> None:
    out = pd.DataFrame(
        {
            "series": frame["series"],
            "time": frame["time"].dt.strftime("%Y-%m-%d"),
            "value": frame["value"].astype(int),
        }
    )
    out.to_csv(path, index=False)


# --------------------------------------------------------------------------- ours


@dataclass
class OursBacktest:
    label: str
    wall_s: float
    fit_s: float
    result: BacktestResult


def time_ours_features(data: Dataset, repeat: int) -> tuple[float, list[float], int]:
    """Best-of-``repeat`` wall time of ``make_panel`` + ``build_training`` (h = 1): (best, all, rows)."""
    params = preprocessing_params({"horizon": 1, "target_lags": list(LAGS)})
    times, rows = [], 0
    for i in range(repeat):
        start = time.perf_counter()
        training = build_training(make_panel(data), params)
        times.append(time.perf_counter() - start)
        rows = len(training)
        del training
        progress(f"ours features run {i + 1}/{repeat}: {times[-1]:.3f}s, {rows} rows")
    return min(times), times, rows


def run_ours_backtest(data: Dataset, label: str, extra: dict[str, Any]) -> OursBacktest:
    params = preprocessing_params(
        {"horizon": list(range(1, HORIZON + 1)), "target_lags": list(LAGS), **extra}
    )
    progress(f"ours {label}: backtest, {WINDOWS} windows, h 1..{HORIZON}")
    start = time.perf_counter()
    result = backtest(data, params, dict(ML_PARAMS), windows=WINDOWS, progress=lambda m: progress(f"  {m}"))
    wall = time.perf_counter() - start
    fit_s = float(result.timings["fit_s"])
    progress(f"ours {label}: {wall:.3f}s wall (own fit_s timer {fit_s:.3f}s)")
    return OursBacktest(label, wall, fit_s, result)


def training_rows(data: Dataset, cutoff: pd.Timestamp, extra: dict[str, Any]) -> int:
    """Rows of our training matrix at one cut-off (untimed, for the report)."""
    params = preprocessing_params(
        {"horizon": list(range(1, HORIZON + 1)), "target_lags": list(LAGS), **extra}
    )
    return len(build_training(make_panel(data.until(cutoff)), params))


# --------------------------------------------------------------------------- peer


def run_peer(
    python: Path,
    panel_csv: Path,
    lags: Sequence[int],
    cutoffs: Sequence[pd.Timestamp],
    repeat: int,
    out: Path,
) -> dict[str, Any]:
    command = [
        str(python),
        str(PEER_SCRIPT),
        "--panel",
        str(panel_csv),
        "--lags",
        ",".join(map(str, lags)),
        "--horizon",
        str(HORIZON),
        "--cutoffs",
        ",".join(c.date().isoformat() for c in cutoffs),
        "--params",
        json.dumps(PEER_PARAMS),
        "--repeat",
        str(repeat),
        "--output",
        str(out),
    ]
    progress(f"peer lags {','.join(map(str, lags))}: {' '.join(command[1:])}")
    start = time.perf_counter()
    # The peer's stdout (anything a library prints) goes to our stderr: stdout is the report.
    done = subprocess.run(command, stdout=sys.stderr, stderr=None, check=False)
    if done.returncode != 0:
        raise SystemExit(f"FAILED: the mlforecast peer exited with status {done.returncode}")
    result = json.loads(out.read_text())
    result["process_s"] = time.perf_counter() - start
    result["total_s"] = result["fit_s"] + sum(result["predict_s_per_cutoff"])
    progress(
        f"peer lags {','.join(map(str, lags))}: fit {result['fit_s']:.3f}s + predict "
        f"{sum(result['predict_s_per_cutoff']):.3f}s, process {result['process_s']:.1f}s"
    )
    return result


# --------------------------------------------------------------------------- scoring


def ours_points(run: OursBacktest) -> pd.DataFrame:
    points = run.result.points
    cutoff = pd.DatetimeIndex(points["cutoff"]).astype("datetime64[us]")
    if not (pd.DatetimeIndex(points["origin"]).astype("datetime64[us]") == cutoff).all():
        raise SystemExit(f"FAILED: ours {run.label}: a forecast origin is not its cut-off")
    return pd.DataFrame(
        {
            "series": points["series"].astype(str).to_numpy(),
            "cutoff": cutoff,
            "time": pd.DatetimeIndex(points["target_date"]).astype("datetime64[us]"),
            "horizon": points["horizon"].astype(int).to_numpy(),
            "prediction": points["model"].to_numpy(dtype=float),
            "seasonal_naive": points["seasonal_naive"].to_numpy(dtype=float),
            "last_value": points["last_value"].to_numpy(dtype=float),
        }
    )


def peer_points(peer: dict[str, Any]) -> pd.DataFrame:
    raw = pd.DataFrame(peer["predictions"])
    points = pd.DataFrame(
        {
            "series": raw["series"].astype(str),
            "cutoff": pd.to_datetime(raw["cutoff"]).astype("datetime64[us]"),
            "time": pd.to_datetime(raw["time"]).astype("datetime64[us]"),
            "horizon": raw["step"].astype(int),
            "prediction": raw["prediction"].astype(float),
        }
    )
    weeks = (points["time"] - points["cutoff"]) // pd.Timedelta(weeks=1)
    if not (weeks == points["horizon"]).all():
        raise SystemExit("FAILED: a peer prediction's step is not its weeks after the cut-off")
    return points


def with_actuals(points: pd.DataFrame, truth: pd.DataFrame, label: str) -> pd.DataFrame:
    """``points`` with the panel's ``actual`` and ``abs_error``; every point must have an actual."""
    merged = points.merge(truth, on=["series", "time"], how="left", validate="many_to_one")
    if merged["actual"].isna().any():
        raise SystemExit(f"FAILED: {label}: {int(merged['actual'].isna().sum())} points without an actual")
    return merged.assign(abs_error=(merged["prediction"] - merged["actual"]).abs())


def same_points(runs: dict[str, pd.DataFrame]) -> int:
    """All runs score the same (series, target week, horizon) points once each; returns their count."""
    keys = {}
    for label, points in runs.items():
        key = points[["series", "time", "horizon"]].sort_values(["series", "time", "horizon"])
        if key.duplicated().any():
            raise SystemExit(f"FAILED: {label} scores a point twice")
        keys[label] = key.reset_index(drop=True)
    first_label, first = next(iter(keys.items()))
    for label, key in keys.items():
        if not key.equals(first):
            raise SystemExit(f"FAILED: {label} and {first_label} do not score the same points")
    return len(first)


# --------------------------------------------------------------------------- report


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def lags_text(lags: Sequence[int]) -> str:
    return ",".join(map(str, lags))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=260)
    parser.add_argument("--repeat", type=int, default=3, help="feature-build runs per side; best is reported")
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON, help="python of .venv-bench")
    args = parser.parse_args(argv)
    n, p = args.series, args.points
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    min_points = max(SHIFTED_LAGS) + HORIZON * WINDOWS + 1
    if p < min_points:
        parser.error(f"--points must be at least {min_points} for lags up to 53 and {WINDOWS} windows of 12")
    if not args.peer_python.exists():
        raise SystemExit(
            f"no peer interpreter at {args.peer_python}; create it with: python3 -m venv .venv-bench && "
            ".venv-bench/bin/pip install -q -r bench/requirements-peer.txt"
        )

    started = dt.datetime.now().astimezone()
    progress(f"generating {n} series x {p} weeks from {START}")
    frame = make_panel_frame(n, p)
    names = tuple(sorted(frame["series"].unique()))
    data = Dataset(frame, targets=names, features=(), data_versions={})
    truth = frame.rename(columns={"value": "actual"})

    with tempfile.TemporaryDirectory(prefix="forecast_bench_") as tmp:
        panel_csv = Path(tmp) / "panel.csv"
        write_peer_csv(frame, panel_csv)

        # 2. feature build
        feat_best, feat_all, feat_rows = time_ours_features(data, args.repeat)

        # 3. multi-horizon backtests
        ours_a = run_ours_backtest(data, "(a) stacked", {})
        ours_b = run_ours_backtest(data, "(b) horizons_per_origin 1", {"horizons_per_origin": 1})
        cutoffs = ours_a.result.cutoffs
        if list(ours_b.result.cutoffs) != list(cutoffs):
            raise SystemExit("FAILED: ours (a) and (b) picked different cut-offs")
        progress(f"cut-offs: {', '.join(c.date().isoformat() for c in cutoffs)}")
        peer_i = run_peer(args.peer_python, panel_csv, LAGS, cutoffs, args.repeat, Path(tmp) / "peer_i.json")
        peer_ii = run_peer(
            args.peer_python, panel_csv, SHIFTED_LAGS, cutoffs, args.repeat, Path(tmp) / "peer_ii.json"
        )

    progress("training rows at the last cut-off (untimed)")
    rows_a = training_rows(data, cutoffs[-1], {})
    rows_b = training_rows(data, cutoffs[-1], {"horizons_per_origin": 1})

    progress("scoring")
    scored = {
        "ours (a)": with_actuals(ours_points(ours_a), truth, "ours (a)"),
        "ours (b)": with_actuals(ours_points(ours_b), truth, "ours (b)"),
        "peer (i)": with_actuals(peer_points(peer_i), truth, "peer (i)"),
        "peer (ii)": with_actuals(peer_points(peer_ii), truth, "peer (ii)"),
    }
    n_points = same_points(scored)
    # Ours' own actuals must be the panel's.
    for label in ("ours (a)", "ours (b)"):
        own = ours_a.result.points if label == "ours (a)" else ours_b.result.points
        if not np.array_equal(own["actual"].to_numpy(dtype=float), scored[label]["actual"].to_numpy()):
            raise SystemExit(f"FAILED: {label}: backtest actuals differ from the panel")
    mae = {label: float(points["abs_error"].mean()) for label, points in scored.items()}
    base = scored["ours (a)"]
    mae["seasonal naive"] = float((base["seasonal_naive"] - base["actual"]).abs().mean())
    mae["last value"] = float((base["last_value"] - base["actual"]).abs().mean())

    # ------------------------------------------------------------------ report
    ours_versions = (
        f"python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"lightgbm {lightgbm.__version__}"
    )
    pv = peer_i["versions"]
    peer_versions = (
        f"python {pv['python']}, mlforecast {pv['mlforecast']}, coreforecast {pv['coreforecast']}, "
        f"utilsforecast {pv['utilsforecast']}, pandas {pv['pandas']}, numpy {pv['numpy']}, "
        f"lightgbm {pv['lightgbm']}"
    )
    expect_ours = n * (p - 1 - max(LAGS))
    rows_i, rows_ii = peer_i["preprocess_rows"], peer_ii["preprocess_rows"]
    feature_rows = [
        [
            f"ours make_panel + build_training (lags {lags_text(LAGS)}, h 1)",
            f"{feat_best:.3f}",
            ", ".join(f"{t:.3f}" for t in feat_all),
            f"{feat_rows:,}",
            "1.00",
        ]
    ]
    for label, peer in (("(i)", peer_i), ("(ii)", peer_ii)):
        feature_rows.append(
            [
                f"peer {label} mlforecast preprocess (lags {lags_text(peer['lags'])})",
                f"{peer['preprocess_s']:.3f}",
                ", ".join(f"{t:.3f}" for t in peer["preprocess_s_all"]),
                f"{peer['preprocess_rows']:,}",
                f"{feat_best / peer['preprocess_s']:.2f}",
            ]
        )
    feat_ratio = feat_best / peer_i["preprocess_s"]

    def run_row(label: str, what: str, total: float, fit: str, predict: str, rows: str, key: str):
        return [label, what, f"{total:.3f}", fit, predict, rows, f"{mae[key]:.4f}"]

    peer_rows = lambda peer: ", ".join(f"{r:,}" for r in peer["train_rows_per_cutoff"])  # noqa: E731
    runs_table = table(
        ["run", "what", "time s", "fit s", "predict s", "training rows", "MAE"],
        [
            run_row(
                "ours (a)",
                f"one model, all 12 horizons stacked, lags {lags_text(LAGS)}",
                ours_a.wall_s,
                f"{ours_a.fit_s:.3f}*",
                "-",
                f"{rows_a:,} at last cut-off",
                "ours (a)",
            ),
            run_row(
                "ours (b)",
                f"one model, horizons_per_origin 1, lags {lags_text(LAGS)}",
                ours_b.wall_s,
                f"{ours_b.fit_s:.3f}*",
                "-",
                f"{rows_b:,} at last cut-off",
                "ours (b)",
            ),
            *[
                run_row(
                    f"peer {label}",
                    f"mlforecast direct (12 models), lags {lags_text(peer['lags'])}",
                    peer["total_s"],
                    f"{peer['fit_s']:.3f}",
                    f"{sum(peer['predict_s_per_cutoff']):.3f}",
                    f"input {peer_rows(peer)}",
                    f"peer {label}",
                )
                for label, peer in (("(i)", peer_i), ("(ii)", peer_ii))
            ],
        ],
    )
    pairs = []
    for o_label, o_run in (("ours (a)", ours_a), ("ours (b)", ours_b)):
        for p_label, peer in (("peer (i)", peer_i), ("peer (ii)", peer_ii)):
            speedup = peer["total_s"] / o_run.wall_s
            mae_ratio = mae[o_label] / mae[p_label]
            ok = speedup >= GOAL_SPEEDUP and mae[o_label] <= mae[p_label]
            pairs.append(
                [
                    f"{o_label} vs {p_label}",
                    f"{speedup:.2f}x",
                    f"{mae[o_label]:.4f} vs {mae[p_label]:.4f}",
                    f"{mae_ratio:.3f}",
                    verdict(ok),
                ]
            )
    per_h = []
    for h in range(1, HORIZON + 1):
        cells = [str(h), f"{int((base['horizon'] == h).sum()):,}"]
        for label in scored:
            sel = scored[label][scored[label]["horizon"] == h]
            cells.append(f"{sel['abs_error'].mean():.3f}")
        sel = base[base["horizon"] == h]
        cells.append(f"{(sel['seasonal_naive'] - sel['actual']).abs().mean():.3f}")
        cells.append(f"{(sel['last_value'] - sel['actual']).abs().mean():.3f}")
        per_h.append(cells)
    per_h.append(
        ["all", f"{n_points:,}", *(f"{mae[k]:.3f}" for k in scored), f"{mae['seasonal naive']:.3f}"]
        + [f"{mae['last value']:.3f}"]
    )

    out = [
        f"Forecast benchmark: {n} series x {p} weeks from {START} (seed {SEED}), ours vs mlforecast",
        f"date:     {started.strftime('%Y-%m-%d %H:%M %Z')} (start)",
        f"machine:  {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"{platform.machine()}",
        f"ours:     {ours_versions} (.venv)",
        f"peer:     {peer_versions} ({args.peer_python})",
        f"lightgbm: {json.dumps(ML_PARAMS)}; + verbose=-1 on both sides; mlforecast num_threads=1",
        f"backtest: {WINDOWS} expanding windows, h 1..{HORIZON}, cut-offs "
        + ", ".join(c.date().isoformat() for c in cutoffs),
        "",
        f"1. Feature build (horizon 1), best of {args.repeat}; goal ours <= {GOAL_FEATURES}x peer (i) time",
        table(["side", "best s", "runs s", "rows", "ours/this"], feature_rows),
        f"ours/peer (i) = {feat_ratio:.2f} "
        f"(goal <= {GOAL_FEATURES}: {verdict(feat_ratio <= GOAL_FEATURES)}); "
        f"ours/peer (ii) = {feat_best / peer_ii['preprocess_s']:.2f}",
        f"rows: ours {feat_rows:,} = {n} x ({p} - 1 - 52) (expected {expect_ours:,}: "
        f"{'ok' if feat_rows == expect_ours else 'UNEXPECTED'}); "
        f"peer (i) {rows_i:,} = {n} x ({p} - 52) ({rows_i - feat_rows:+,}); "
        f"peer (ii) {rows_ii:,} ({'same as ours' if rows_ii == feat_rows else f'{rows_ii - feat_rows:+,}'})",
        "  mlforecast's dropna drops rows with a missing lag or a missing y, but its y is the row's own",
        "  value (never missing here), so with lags 1..52 it keeps weeks 52..P-1. Ours' y is the value one",
        "  week after the origin, so our last week has no y and is dropped too: one row per series fewer.",
        "  With lags 2..53 the peer's rows are exactly ours (same weeks read, same target).",
        "",
        f"2. Multi-horizon backtest, h 1..{HORIZON}, {WINDOWS} cut-offs, train + predict "
        f"({n_points:,} scored points, the same on every run)",
        runs_table,
        "  time s: ours = wall time of the whole backtest() call (panel, features per window, fit, predict,",
        "  scoring); peer = fit_s + sum of predict_s over the cut-offs.",
        "  * ours' own backtest timer result.timings['fit_s']: it includes build_training of each window.",
        "  peer training rows: its input rows up to each cut-off (each step model drops incomplete rows).",
        "",
        f"Goal: >= {GOAL_SPEEDUP:.0f}x faster than the peer at MAE <= the peer's",
        table(["comparison", "peer/ours time", "MAE ours vs peer", "MAE ours/peer", "goal"], pairs),
        "",
        "MAE per horizon (same points on every run; baselines from ours' backtest points)",
        table(
            ["h", "n", "ours (a)", "ours (b)", "peer (i)", "peer (ii)", "seasonal naive", "last value"], per_h
        ),
        "",
        "Why peer (ii) with lags 2,3,4,5,53:",
        "- ours (the seed's convention): the row at origin week T has target_lag_k = value at T-k and",
        "  y = value at T+h; at forecast time T is the last observed week, so our lag 1 is the week BEFORE",
        "  it and the last observed value itself is not a feature.",
        "- mlforecast: lag l at prediction reads y[T+1-l], so its lag 1 IS the last observed week",
        "  (verified in bench/mlforecast_peer.py's header). With the same lag numbers (i) the peer sees one",
        "  more recent week than ours; (ii) lags 2,3,4,5,53 read exactly the observations ours reads.",
        f"- MAE of the peer with vs without the last observed week: (i) {mae['peer (i)']:.4f} vs "
        f"(ii) {mae['peer (ii)']:.4f}.",
        "",
        "notes:",
        f"- ours' backtest runs (s): (a) {ours_a.wall_s:.3f}, (b) {ours_b.wall_s:.3f}; peer fit per cut-off "
        f"(i) {', '.join(f'{t:.2f}' for t in peer_i['fit_s_per_cutoff'])}, "
        f"(ii) {', '.join(f'{t:.2f}' for t in peer_ii['fit_s_per_cutoff'])}; peer processes "
        f"(import, CSV, preprocess x{args.repeat}, fits) {peer_i['process_s']:.1f} s and "
        f"{peer_ii['process_s']:.1f} s.",
        f"- peer preprocess columns (i): {', '.join(peer_i['preprocess_columns'])}",
        "- single runs of the backtests (each takes tens of seconds); the feature builds are best of "
        f"{args.repeat}.",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
