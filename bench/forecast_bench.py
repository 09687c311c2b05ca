"""Forecasting benchmark: our lag features and multi-horizon backtest against mlforecast.

One run, same deterministic panel on both sides, ratios printed side by side:

1. Panel: N series x P weekly integer values 0-100 from 2019-01-06 (a Sunday, like
   Google Trends weeks): level + yearly sine (random phase and amplitude) + linear
   trend + random-walk drift + noise, each series scaled so its maximum is 100 and
   rounded. ``refresh_bench.make_workload`` builds two refresh downloads per series
   through the refresh code, so it is not reused; :func:`make_panel_frame` follows
   its recipe. Ours gets it as a ``Dataset`` (every series a target, no features),
   the peer as a CSV ``series,time,value``.
2. Feature build, best of ``--repeat`` (default 7; runs of a few tens of ms are
   noisy): ours ``make_panel`` + ``build_training`` with horizon 1, (1) target lags
   1,2,3,4,52 (the seed's convention) and (2) variant (c)'s lags 1,2,3,51 with
   ``include_lag_0``, the two interleaved run by run, against mlforecast's
   ``preprocess(dropna=True)`` (``bench/mlforecast_peer.py``) with lags 1,2,3,4,52
   (peer (i)) and 2,3,4,5,53 (peer (ii)).
3. Multi-horizon h = 1..12 with the same LightGBM params on both sides, on the 4
   expanding-window cut-offs our ``forecasting.backtest.backtest`` picks (each leaves
   12 weeks to score); the peer gets exactly those cut-offs. Ours runs the variants
   of :data:`VARIANTS` (one model each; stacked = every horizon of every origin,
   ``horizons_per_origin: 1`` = each origin kept for one random horizon, 1/12 of the
   rows; ``--skip-stacked`` leaves out the stacked ones, about 45 s each); the peer
   (mlforecast's direct strategy, one model per step) runs (i) with lags 1,2,3,4,52
   and (ii) with lags 2,3,4,5,53. MAE on both sides over the same (series, target
   week) points, against the panel.

Lag numbering differs between the libraries; a pair is *information-matched* when
both sides read the same observations at forecast time (and are scored on the same
points, checked on every run). With T the last observed week (the forecast origin):

- ours: the row at origin T has ``target_lag_k`` = value at T-k and ``y`` = value at
  T+h, so our lag k reads T-k; lag 0 (T itself, the last observed value) is a
  feature only with the ``include_lag_0`` extra. Without it (the seed's convention)
  our lag 1 is the week *before* the last observed week.
- mlforecast: lag l at prediction reads y[T+1-l], so its lag 1 is T itself (verified
  in the header of bench/mlforecast_peer.py).

So ours with lags 1,2,3,4,52 reads T-1..T-4, T-52 = peer (ii) (lags 2,3,4,5,53);
ours with lag 0 + lags 1,2,3,51 reads T..T-3, T-51 = peer (i) (lags 1,2,3,4,52).
The report derives the matching from these rules, it is not typed in. The same
shift explains the feature-build row counts: ours drops each series' last week (its
y at T+1 is unknown) as well as the weeks before its largest lag, mlforecast drops
only rows with a missing lag (its y is the row's own value, never missing here), so
matched builds have the same rows.

Both sides fit single-threaded (``n_jobs=1``; mlforecast ``num_threads=1``). Ours
adds ``verbose=-1`` internally; the peer gets it too so LightGBM prints nothing, so
the effective LightGBM params are identical. Timings are wall clock
(``time.perf_counter``): ours is the whole ``backtest()`` call (panel, features per
window, fit, predict, scoring), split with its own ``features_s`` / ``fit_s``
timers; the peer's is its ``fit_s`` + the sum of its ``predict_s`` (it times only
``fit`` and ``predict``, not reading or slicing data).

Run:  .venv/bin/python bench/forecast_bench.py [--series 1000] [--points 260] [--repeat 7]
      [--skip-stacked] [--peer-python .venv-bench/bin/python]
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from reporting import cpu_model, table

from forecasting.backtest import BacktestResult, backtest
from forecasting.configs import PreprocessingParams, preprocessing_params
from forecasting.dataset import Dataset
from forecasting.features import build_training, make_panel

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPT = ROOT / "bench" / "mlforecast_peer.py"
DEFAULT_PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
START = "2019-01-06"  # a Sunday: Google Trends weeks start on Sunday
SEED = 20240607
LAGS = (1, 2, 3, 4, 52)  # the seed's convention: lag k reads T-k, no lag 0
LAG0_LAGS = (1, 2, 3, 51)  # with include_lag_0: reads T, T-1, T-2, T-3, T-51, what peer (i) reads
SHIFTED_LAGS = tuple(k + 1 for k in LAGS)  # the peer reading exactly the weeks LAGS reads in ours
HORIZON = 12
HORIZONS = list(range(1, HORIZON + 1))
WINDOWS = 4
ML_PARAMS = {"n_estimators": 100, "learning_rate": 0.05, "num_leaves": 31, "n_jobs": 1}
PEER_PARAMS = {**ML_PARAMS, "verbose": -1}  # what ours passes to LGBMRegressor
GOAL_FEATURES = 0.5  # ours / peer time, at most
GOAL_SPEEDUP = 5.0  # peer / ours time, at least, at MAE <= the peer's
DEFAULT_REPEAT = 7

_T0 = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Variant:
    """One of our multi-horizon runs: preprocessing params besides ``horizon`` (always 1..12)."""

    key: str
    description: str
    extra: dict[str, Any] = field(hash=False)
    stacked: bool  # every horizon of every origin (the slow ones, left out by --skip-stacked)

    @property
    def label(self) -> str:
        return f"ours ({self.key})"

    def params(self, horizon: int | list[int] = HORIZONS) -> PreprocessingParams:
        extra = dict(self.extra)
        if not isinstance(horizon, list):
            extra.pop("horizons_per_origin", None)  # one horizon: nothing to sample
        return preprocessing_params({"horizon": horizon, **extra})

    def offsets(self) -> tuple[int, ...]:
        """Weeks before the origin T each lag column reads (0 = T itself)."""
        return tuple(sorted(self.params().used_target_lags))


VARIANTS = (
    Variant("a", "all 12 horizons stacked (seed convention)", {"target_lags": list(LAGS)}, stacked=True),
    Variant(
        "b",
        "horizons_per_origin 1 (seed convention)",
        {"target_lags": list(LAGS), "horizons_per_origin": 1},
        stacked=False,
    ),
    Variant(
        "c",
        "horizons_per_origin 1, include_lag_0",
        {"target_lags": list(LAG0_LAGS), "horizons_per_origin": 1, "include_lag_0": True},
        stacked=False,
    ),
    Variant(
        "d",
        "horizons_per_origin 1, include_lag_0",
        {"target_lags": list(LAGS), "horizons_per_origin": 1, "include_lag_0": True},
        stacked=False,
    ),
    Variant(
        "e",
        "all 12 horizons stacked, include_lag_0",
        {"target_lags": list(LAG0_LAGS), "include_lag_0": True},
        stacked=True,
    ),
)
# The feature builds timed against the peer's preprocess (horizon 1): the seed's convention and (c)'s params.
FEATURE_VARIANTS = (
    Variant("seed", "seed convention", {"target_lags": list(LAGS)}, stacked=False),
    Variant("c", "variant (c) params", dict(VARIANTS[2].extra), stacked=False),
)


@dataclass(frozen=True)
class PeerRun:
    key: str
    lags: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"peer ({self.key})"

    def offsets(self) -> tuple[int, ...]:
        """Weeks before the last observed week T each lag reads: mlforecast's lag l reads T+1-l."""
        return tuple(sorted(lag - 1 for lag in self.lags))


PEERS = (PeerRun("i", LAGS), PeerRun("ii", SHIFTED_LAGS))


def reads_text(offsets: Sequence[int]) -> str:
    return ", ".join("T" if k == 0 else f"T-{k}" for k in sorted(offsets))


def matched(ours: Variant, peer: PeerRun) -> bool:
    """Information-matched: both read the same observations at forecast time."""
    return set(ours.offsets()) == set(peer.offsets())


def lags_text(lags: Sequence[int]) -> str:
    return ",".join(map(str, lags))


def ours_lags_text(variant: Variant) -> str:
    params = variant.params()
    return ("0+" if params.include_lag_0 else "") + lags_text(params.target_lags)


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
    variant: Variant
    wall_s: float
    features_s: float
    fit_s: float
    result: BacktestResult

    @property
    def label(self) -> str:
        return self.variant.label


@dataclass
class FeatureBuild:
    variant: Variant
    times: list[float]
    rows: int

    @property
    def best(self) -> float:
        return min(self.times)


def time_ours_features(data: Dataset, variants: Sequence[Variant], repeat: int) -> list[FeatureBuild]:
    """Wall times of ``make_panel`` + ``build_training`` (h = 1) per variant, interleaved run by run."""
    builds = [FeatureBuild(v, [], 0) for v in variants]
    params = [v.params(1) for v in variants]
    for i in range(repeat):
        for build, p in zip(builds, params):
            start = time.perf_counter()
            training = build_training(make_panel(data), p)
            build.times.append(time.perf_counter() - start)
            build.rows = len(training)
            del training
            progress(
                f"ours features {build.variant.key} run {i + 1}/{repeat}: {build.times[-1]:.3f}s, "
                f"{build.rows} rows"
            )
    return builds


def run_ours_backtest(data: Dataset, variant: Variant) -> OursBacktest:
    params = variant.params()
    progress(f"{variant.label}: backtest, {WINDOWS} windows, h 1..{HORIZON}, {params.as_params()}")
    start = time.perf_counter()
    result = backtest(data, params, dict(ML_PARAMS), windows=WINDOWS, progress=lambda m: progress(f"  {m}"))
    wall = time.perf_counter() - start
    features_s, fit_s = float(result.timings["features_s"]), float(result.timings["fit_s"])
    progress(f"{variant.label}: {wall:.3f}s wall (own timers: features {features_s:.3f}s, fit {fit_s:.3f}s)")
    return OursBacktest(variant, wall, features_s, fit_s, result)


def training_rows(data: Dataset, cutoff: pd.Timestamp, variant: Variant) -> int:
    """Rows of our training matrix at one cut-off (untimed, for the report)."""
    return len(build_training(make_panel(data.until(cutoff)), variant.params()))


# --------------------------------------------------------------------------- peer


def run_peer(
    python: Path,
    panel_csv: Path,
    peer_run: PeerRun,
    cutoffs: Sequence[pd.Timestamp],
    repeat: int,
    out: Path,
) -> dict[str, Any]:
    lags = peer_run.lags
    command = [
        str(python),
        str(PEER_SCRIPT),
        "--panel",
        str(panel_csv),
        "--lags",
        lags_text(lags),
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
    progress(f"{peer_run.label} lags {lags_text(lags)}: {' '.join(command[1:])}")
    start = time.perf_counter()
    # The peer's stdout (anything a library prints) goes to our stderr: stdout is the report.
    done = subprocess.run(command, stdout=sys.stderr, stderr=None, check=False)
    if done.returncode != 0:
        raise SystemExit(f"FAILED: the mlforecast peer exited with status {done.returncode}")
    result = json.loads(out.read_text())
    if tuple(result["lags"]) != tuple(lags):
        raise SystemExit(f"FAILED: {peer_run.label} ran lags {result['lags']}, not {list(lags)}")
    result["process_s"] = time.perf_counter() - start
    result["total_s"] = result["fit_s"] + sum(result["predict_s_per_cutoff"])
    progress(
        f"{peer_run.label}: fit {result['fit_s']:.3f}s + predict "
        f"{sum(result['predict_s_per_cutoff']):.3f}s, process {result['process_s']:.1f}s"
    )
    return result


# --------------------------------------------------------------------------- scoring


def ours_points(run: OursBacktest) -> pd.DataFrame:
    points = run.result.points
    cutoff = pd.DatetimeIndex(points["cutoff"]).astype("datetime64[us]")
    if not (pd.DatetimeIndex(points["origin"]).astype("datetime64[us]") == cutoff).all():
        raise SystemExit(f"FAILED: {run.label}: a forecast origin is not its cut-off")
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


def same_baselines(runs: dict[str, pd.DataFrame]) -> None:
    """Every ours run has the same baseline forecasts on the same points (they do not depend on the model)."""
    columns = ["series", "time", "horizon", "seasonal_naive", "last_value"]
    frames = {label: p[columns].sort_values(columns[:3]).reset_index(drop=True) for label, p in runs.items()}
    first_label, first = next(iter(frames.items()))
    for label, frame in frames.items():
        if not frame.equals(first):
            raise SystemExit(f"FAILED: {label} and {first_label} have different baseline forecasts")


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def match_text(ours: Variant, peer: PeerRun) -> str:
    """``matched``, or ``not matched`` with the observations only one side reads."""
    if matched(ours, peer):
        return "matched"
    only_ours = sorted(set(ours.offsets()) - set(peer.offsets()))
    only_peer = sorted(set(peer.offsets()) - set(ours.offsets()))
    parts = [f"{side} also {reads_text(o)}" for side, o in (("ours", only_ours), ("peer", only_peer)) if o]
    return f"not matched ({'; '.join(parts)})"


def extra_text(variant: Variant) -> str:
    return ", ".join(f"{key} {json.dumps(value)}" for key, value in variant.extra.items())


def times_text(times: Sequence[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=260)
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help="feature-build runs per side; best is reported"
    )
    parser.add_argument(
        "--skip-stacked",
        action="store_true",
        help="leave out the stacked variants " + ", ".join(f"({v.key})" for v in VARIANTS if v.stacked),
    )
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON, help="python of .venv-bench")
    args = parser.parse_args(argv)
    n, p = args.series, args.points
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    variants = [v for v in VARIANTS if not (args.skip_stacked and v.stacked)]
    max_lag = max([*(max(r.lags) for r in PEERS), *(max(v.params().target_lags) for v in VARIANTS)])
    min_points = max_lag + HORIZON * WINDOWS + 1
    if p < min_points:
        parser.error(
            f"--points must be at least {min_points} for lags up to {max_lag} and {WINDOWS} windows of 12"
        )
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
        builds = time_ours_features(data, FEATURE_VARIANTS, args.repeat)

        # 3. multi-horizon backtests
        ours = [run_ours_backtest(data, v) for v in variants]
        cutoffs = ours[0].result.cutoffs
        for run in ours[1:]:
            if list(run.result.cutoffs) != list(cutoffs):
                raise SystemExit(f"FAILED: {ours[0].label} and {run.label} picked different cut-offs")
        progress(f"cut-offs: {', '.join(c.date().isoformat() for c in cutoffs)}")
        peers = {
            r.key: run_peer(
                args.peer_python, panel_csv, r, cutoffs, args.repeat, Path(tmp) / f"peer_{r.key}.json"
            )
            for r in PEERS
        }

    progress("training rows at the last cut-off (untimed)")
    rows_last = {run.label: training_rows(data, cutoffs[-1], run.variant) for run in ours}

    progress("scoring")
    scored = {run.label: with_actuals(ours_points(run), truth, run.label) for run in ours}
    for r in PEERS:
        scored[r.label] = with_actuals(peer_points(peers[r.key]), truth, r.label)
    n_points = same_points(scored)
    # Ours' own actuals must be the panel's.
    for run in ours:
        own = run.result.points["actual"].to_numpy(dtype=float)
        if not np.array_equal(own, scored[run.label]["actual"].to_numpy()):
            raise SystemExit(f"FAILED: {run.label}: backtest actuals differ from the panel")
    same_baselines({run.label: scored[run.label] for run in ours})
    mae = {label: float(points["abs_error"].mean()) for label, points in scored.items()}
    base = scored[ours[0].label]
    mae["seasonal naive"] = float((base["seasonal_naive"] - base["actual"]).abs().mean())
    mae["last value"] = float((base["last_value"] - base["actual"]).abs().mean())

    # ------------------------------------------------------------------ report
    ours_versions = (
        f"python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"lightgbm {lightgbm.__version__}"
    )
    pv = peers[PEERS[0].key]["versions"]
    peer_versions = (
        f"python {pv['python']}, mlforecast {pv['mlforecast']}, coreforecast {pv['coreforecast']}, "
        f"utilsforecast {pv['utilsforecast']}, pandas {pv['pandas']}, numpy {pv['numpy']}, "
        f"lightgbm {pv['lightgbm']}"
    )

    # 1. feature build
    feature_rows, row_checks = [], []
    for build in builds:
        params = build.variant.params(1)
        expect = n * (p - 1 - max(params.used_target_lags))
        feature_rows.append(
            [
                f"ours {build.variant.description}: make_panel + build_training "
                f"(lags {ours_lags_text(build.variant)}, h 1)",
                reads_text(build.variant.offsets()),
                f"{build.best:.4f}",
                times_text(build.times),
                f"{build.rows:,}",
            ]
        )
        deepest = max(params.used_target_lags)
        row_checks.append(
            f"ours {build.variant.description} {build.rows:,} = {n} x ({p} - 1 - {deepest}) "
            f"({'ok' if build.rows == expect else f'UNEXPECTED, expected {expect:,}'})"
        )
    for r in PEERS:
        peer = peers[r.key]
        expect = n * (p - max(r.lags))
        feature_rows.append(
            [
                f"{r.label} mlforecast preprocess (lags {lags_text(r.lags)})",
                reads_text(r.offsets()),
                f"{peer['preprocess_s']:.4f}",
                times_text(peer["preprocess_s_all"]),
                f"{peer['preprocess_rows']:,}",
            ]
        )
        row_checks.append(
            f"{r.label} {peer['preprocess_rows']:,} = {n} x ({p} - {max(r.lags)}) "
            f"({'ok' if peer['preprocess_rows'] == expect else f'UNEXPECTED, expected {expect:,}'})"
        )
    feature_pairs = []
    for build in builds:
        for r in PEERS:
            peer = peers[r.key]
            ratio = build.best / peer["preprocess_s"]
            same_rows = build.rows == peer["preprocess_rows"]
            feature_pairs.append(
                [
                    f"ours {build.variant.description} vs {r.label}",
                    match_text(build.variant, r),
                    "same" if same_rows else f"{build.rows - peer['preprocess_rows']:+,}",
                    f"{ratio:.3f}",
                    verdict(ratio <= GOAL_FEATURES),
                ]
            )

    # 2. backtests
    def peer_rows(peer: dict[str, Any]) -> str:
        return ", ".join(f"{r:,}" for r in peer["train_rows_per_cutoff"])

    run_rows = []
    for run in ours:
        rest = run.wall_s - run.features_s - run.fit_s
        run_rows.append(
            [
                run.label,
                f"one model, {run.variant.description}, lags {ours_lags_text(run.variant)}",
                reads_text(run.variant.offsets()),
                f"{run.wall_s:.3f}",
                f"{run.features_s:.3f}",
                f"{run.fit_s:.3f}",
                f"{rest:.3f}*",
                f"{rows_last[run.label]:,} at last cut-off",
                f"{mae[run.label]:.4f}",
            ]
        )
    for r in PEERS:
        peer = peers[r.key]
        run_rows.append(
            [
                r.label,
                f"mlforecast direct (12 models), lags {lags_text(r.lags)}",
                reads_text(r.offsets()),
                f"{peer['total_s']:.3f}",
                "-",
                f"{peer['fit_s']:.3f}",
                f"{sum(peer['predict_s_per_cutoff']):.3f}",
                f"input {peer_rows(peer)}",
                f"{mae[r.label]:.4f}",
            ]
        )
    runs_table = table(
        ["run", "what", "reads", "time s", "features s", "fit s", "predict s", "training rows", "MAE"],
        run_rows,
    )

    pairs, matched_lines = [], []
    for run in ours:
        for r in PEERS:
            peer = peers[r.key]
            speedup = peer["total_s"] / run.wall_s
            ok = speedup >= GOAL_SPEEDUP and mae[run.label] <= mae[r.label]
            pairs.append(
                [
                    f"{run.label} vs {r.label}",
                    match_text(run.variant, r),
                    f"{speedup:.2f}x",
                    f"{mae[run.label]:.4f} vs {mae[r.label]:.4f}",
                    f"{mae[run.label] / mae[r.label]:.3f}",
                    verdict(ok),
                ]
            )
            if matched(run.variant, r):
                matched_lines.append(
                    f"- {run.label} vs {r.label}: both read {reads_text(r.offsets())}; "
                    f"{speedup:.2f}x, MAE ratio {mae[run.label] / mae[r.label]:.3f}: goal {verdict(ok)}"
                )
    if not matched_lines:
        matched_lines.append("- none (every information-matched variant was skipped)")

    per_h = []
    for h in HORIZONS:
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

    skipped = [v for v in VARIANTS if v not in variants]
    variant_lines = [
        f"- {v.label}: {v.description}; {extra_text(v)}; reads {reads_text(v.offsets())}"
        + (" (SKIPPED: --skip-stacked)" if v in skipped else "")
        for v in VARIANTS
    ]
    peer_fits = "; ".join(
        f"{r.label} {', '.join(f'{t:.2f}' for t in peers[r.key]['fit_s_per_cutoff'])}" for r in PEERS
    )
    peer_processes = ", ".join(f"{r.label} {peers[r.key]['process_s']:.1f} s" for r in PEERS)
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
        "reads:    the observations a forecast reads, T = the last observed week (the forecast origin);",
        "          ours' lag k reads T-k (lag 0 = T, only with include_lag_0);",
        "          mlforecast's lag l reads T+1-l.",
        "          A pair is information-matched when both read the same observations.",
        "variants (ours, all h 1..12):",
        *variant_lines,
        "",
        f"1. Feature build (horizon 1), best of {args.repeat} (ours' two builds interleaved run by run); "
        f"goal ours <= {GOAL_FEATURES}x peer time",
        table(["side", "reads", "best s", "runs s", "rows"], feature_rows),
        table(["comparison", "information", "rows", "ours/peer time", "goal"], feature_pairs),
        "rows: " + "; ".join(row_checks),
        "  mlforecast's dropna drops rows with a missing lag or a missing y, but its y is the row's own",
        "  value (never missing here), so it keeps weeks max(lag)..P-1. Ours' y is the value one week after",
        "  the origin, so our last week has no y and is dropped too, and our lag k is its lag k+1: the",
        "  information-matched builds have exactly the same rows (same weeks read, same target).",
        "",
        f"2. Multi-horizon backtest, h 1..{HORIZON}, {WINDOWS} cut-offs, train + predict "
        f"({n_points:,} scored points, the same on every run)",
        runs_table,
        "  time s: ours = wall time of the whole backtest() call (panel, features per window, fit, predict,",
        "  scoring); peer = fit_s + sum of predict_s over the cut-offs.",
        "  ours features s / fit s: backtest()'s own timers result.timings (make_panel + build_training of",
        "  each window / LightGBM fit); * ours predict s = time s - features s - fit s: predict_latest,",
        "  scoring and metrics. Peer fit s includes mlforecast's own feature build (inside fit).",
        "  peer training rows: its input rows up to each cut-off (each step model drops incomplete rows).",
        "",
        f"Goal: >= {GOAL_SPEEDUP:.0f}x faster than the peer at MAE <= the peer's "
        "(only the matched pairs compare like with like)",
        table(
            ["comparison", "information", "peer/ours time", "MAE ours vs peer", "MAE ours/peer", "goal"],
            pairs,
        ),
        "information-matched pairs:",
        *matched_lines,
        "",
        "MAE per horizon (same points on every run; baselines from ours' backtest points, the same on every"
        " ours run)",
        table(["h", "n", *scored, "seasonal naive", "last value"], per_h),
        "",
        "Lag numbering (why the matched pairs are the ones above):",
        "- ours: the row at origin week T has target_lag_k = value at T-k and y = value at T+h. Without",
        "  include_lag_0 (the seed's convention) our lag 1 is the week BEFORE the last observed week and the",
        "  last observed value itself is not a feature; include_lag_0 adds target_lag_0 = value at T.",
        "- mlforecast: lag l at prediction reads y[T+1-l], so its lag 1 IS the last observed week",
        "  (verified in bench/mlforecast_peer.py's header).",
        f"- so lags {lags_text(LAGS)} in ours read what lags {lags_text(SHIFTED_LAGS)} read in the peer,",
        f"  and lag 0 + lags {lags_text(LAG0_LAGS)} in ours read what lags {lags_text(LAGS)} read in it.",
        f"- MAE of the peer with vs without the last observed week: (i) {mae['peer (i)']:.4f} vs "
        f"(ii) {mae['peer (ii)']:.4f}.",
        "",
        "notes:",
        f"- ours' backtest runs (s): {', '.join(f'({run.variant.key}) {run.wall_s:.3f}' for run in ours)}"
        + (f"; skipped: {', '.join(f'({v.key})' for v in skipped)}" if skipped else "")
        + f"; peer fit per cut-off: {peer_fits}.",
        f"- peer processes (import, CSV, preprocess x{args.repeat}, fits): {peer_processes}.",
        f"- peer preprocess columns (i): {', '.join(peers[PEERS[0].key]['preprocess_columns'])}",
        "- single runs of the backtests (each takes seconds to tens of seconds); the feature builds are best "
        f"of {args.repeat}.",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
