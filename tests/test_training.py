"""Training, the registry and inference, end to end on real databases and real LightGBM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, update

from forecasting.apply import apply_document
from forecasting.configs import get_model
from forecasting.dataset import load_dataset
from forecasting.errors import Conflict, InvalidInput, NotFound
from forecasting.estimator import load_booster
from forecasting.features import feature_columns, make_panel
from forecasting.inference import forecast
from forecasting.models import MLConfig, PreprocessingConfig
from forecasting.refresh import refresh
from forecasting.registry import (
    Registered,
    ServedVersion,
    model_versions,
    models_overview,
    register,
    served_version,
    training,
)
from forecasting.training import train_model
from tests.store_checks import statements

END = "2024-06-02"
SMALL_LGBM = {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 5, "n_jobs": 1, "random_state": 0}


def _document(targets: list[str], features: list[str], *, feature_end: str = END, horizon=(1, 2, 3)) -> dict:
    series = [{"name": n, "source": "sample", "params": {"end": END, "periods": 120}} for n in targets]
    series += [
        {"name": n, "source": "sample", "params": {"end": feature_end, "periods": 120}} for n in features
    ]
    return {
        "series": series,
        "preprocessing_configs": [
            {
                "name": "prep",
                "params": {"horizon": list(horizon), "target_lags": [1, 2, 52], "feature_lags": [1]},
            }
        ],
        "ml_configs": [{"name": "small", "params": SMALL_LGBM}],
        "data_configs": [{"name": "panel", "targets": targets, "features": features}],
        "models": [
            {"name": "m", "ml_config": "small", "data_config": "panel", "preprocessing_config": "prep"}
        ],
    }


@pytest.fixture
def trained(engine: Engine) -> Engine:
    """Two targets and a feature that ends two weeks earlier, trained once."""
    apply_document(engine, _document(["coffee", "tea"], ["flu"], feature_end="2024-05-19"))
    refresh(engine)
    result = train_model(engine, "m", windows=2)
    assert result.status == "ready", result.reason
    return engine


@pytest.mark.parametrize("n_series", [3, 30])
def test_data_load_is_one_select_whatever_the_series_count(engine: Engine, n_series: int) -> None:
    names = [f"s{i:02d}" for i in range(n_series)]
    apply_document(engine, _document(names[:1], names[1:]))
    refresh(engine)
    with engine.connect() as conn:
        config_id = get_model(conn, "m").data_config_id
        with statements(engine) as seen:
            data = load_dataset(conn, config_id)
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    assert data.targets == ("s00",) and len(data.features) == n_series - 1
    assert len(data.frame) == 120 * n_series
    assert set(data.data_versions) == set(names) and all(
        isinstance(v, int) for v in data.data_versions.values()
    )


def test_a_series_without_data_is_named(engine: Engine) -> None:
    apply_document(engine, _document(["coffee"], ["flu"]))
    refresh(engine, ["coffee"])
    with pytest.raises(NotFound, match="flu"):
        train_model(engine, "m", windows=0)


def test_every_target_gets_a_forecast_for_every_horizon(trained: Engine) -> None:
    result = forecast(trained, "m")
    got = {(f["series"], f["horizon"]) for f in result["forecasts"]}
    assert got == {(s, h) for s in ("coffee", "tea") for h in (1, 2, 3)}
    for f in result["forecasts"]:
        assert f["last_date"] == "2024-06-02T00:00:00"
        expected = pd.Timestamp(END) + pd.Timedelta(weeks=f["horizon"])
        assert pd.Timestamp(f["target_date"]) == expected
        assert f["predicted_delta"] == pytest.approx(f["prediction"] - f["last_value"], abs=1e-5)
        assert f["lower"] <= f["prediction"] <= f["upper"]
    assert result["model_version"] == 1 and result["interval_level"] == 0.9
    assert set(result["data_versions"]) == {"coffee", "tea", "flu"}


def test_registry_round_trip_serves_what_was_trained(trained: Engine) -> None:
    with trained.connect() as conn:
        version = served_version(conn, "m")
        spec = get_model(conn, "m")
        data = load_dataset(conn, spec.data_config_id)
        [listed] = model_versions(conn, "m")
        [overview] = models_overview(conn)
    assert listed["status"] == "ready" and listed["served"] and listed["rows"] == version.meta["rows"]
    assert overview["served_version"] == version.version_id
    assert overview["mase"] == pytest.approx(version.meta["backtest"]["mase"])
    meta = version.meta
    assert meta["feature_names"] == feature_columns(spec.preprocessing, ("flu",))
    assert meta["data_versions"] == data.data_versions
    assert {"lightgbm", "pandas", "numpy"} <= set(meta["libraries"]) and meta["timings"]["fit_s"] >= 0
    booster = load_booster(version.artifact)
    assert booster.num_feature() == len(meta["feature_names"])
    served = forecast(trained, "m")["forecasts"]
    assert all(np.isfinite(f["prediction"]) for f in served)


def test_a_newer_ready_version_is_served_and_old_ones_are_kept(trained: Engine) -> None:
    second = train_model(trained, "m", windows=0)
    with trained.connect() as conn:
        versions = model_versions(conn, "m")
        assert served_version(conn, "m").version_id == second.version_id
    assert [(v["id"], v["served"]) for v in versions] == [(second.version_id, True), (1, False)]


@dataclass(frozen=True)
class Check:
    """The served version and check rows with the predictions it gives for them."""

    good: ServedVersion
    rows: np.ndarray
    expected: np.ndarray


@pytest.fixture
def check(trained: Engine) -> Check:
    with trained.connect() as conn:
        good = served_version(conn, "m")
    rows = np.zeros((1, len(good.meta["feature_names"])))
    return Check(good, rows, load_booster(good.artifact).predict(rows))


def registered(
    engine: Engine, artifact: str, meta: dict, check: Check, expected=None, gate=False
) -> Registered:
    """Register ``artifact`` as a new version of model m, as a training does at its end."""
    expected = check.expected if expected is None else expected
    with training(engine, "m") as claim:
        return register(engine, claim, artifact, meta, check.rows, expected, gate=gate)


def test_a_corrupt_artifact_never_becomes_ready(trained: Engine, check: Check) -> None:
    good = check.good
    truncated = registered(trained, good.artifact[: len(good.artifact) // 2], good.meta, check)
    garbage = registered(trained, "not a model", good.meta, check)
    different = registered(trained, good.artifact, good.meta, check, check.expected + 1.0)
    assert [r.status for r in (truncated, garbage, different)] == ["failed"] * 3
    assert "does not load" in garbage.reason and "predicts differently" in different.reason
    with trained.connect() as conn:
        assert served_version(conn, "m").version_id == good.version_id
        statuses = {v["id"]: (v["status"], v["reason"]) for v in model_versions(conn, "m")}
    assert statuses[different.version_id] == ("failed", different.reason)


def test_the_gate_rejects_a_version_no_better_than_seasonal_naive(trained: Engine, check: Check) -> None:
    good = check.good
    worse = {**good.meta, "backtest": {**good.meta["backtest"], "mase": 1.2}}
    rejected = registered(trained, good.artifact, worse, check, gate=True)
    ungated = registered(trained, good.artifact, worse, check)
    assert (rejected.status, ungated.status) == ("rejected", "ready")
    assert "MASE 1.200" in rejected.reason
    with trained.connect() as conn:
        assert served_version(conn, "m").version_id == ungated.version_id


def test_predict_without_a_ready_version_says_how_to_get_one(engine: Engine) -> None:
    apply_document(engine, _document(["coffee"], []))
    with pytest.raises(NotFound, match="run `forecasting train m`"):
        forecast(engine, "m")
    with pytest.raises(NotFound, match="unknown model: nope"):
        forecast(engine, "nope")


def test_what_if_forecast_uses_supplied_history(trained: Engine) -> None:
    stored = forecast(trained, "m")
    weeks = pd.date_range("2023-05-07", periods=57, freq="7D")
    history = pd.DataFrame({"series": "coffee", "time": weeks, "value": np.linspace(0, 100, len(weeks))})
    what_if = forecast(trained, "m", history)
    assert what_if["data_versions"]["coffee"] is None and what_if["data_versions"]["tea"] is not None
    coffee = [f for f in what_if["forecasts"] if f["series"] == "coffee"]
    assert {f["last_date"] for f in coffee} == {weeks[-1].isoformat()}
    assert coffee[0]["last_value"] == 100.0
    tea = [f for f in what_if["forecasts"] if f["series"] == "tea"]
    assert tea == [f for f in stored["forecasts"] if f["series"] == "tea"]
    with pytest.raises(InvalidInput, match="outside the model's data config: cocoa"):
        forecast(trained, "m", history.assign(series="cocoa"))
    with pytest.raises(InvalidInput, match="finite"):
        forecast(trained, "m", history.assign(value=np.inf))


def test_inference_uses_the_params_recorded_in_the_version(trained: Engine) -> None:
    with trained.begin() as conn:
        conn.execute(
            update(PreprocessingConfig).values(
                params={"horizon": 5, "target_lags": [1, 2, 3, 4], "feature_lags": []}
            )
        )
    horizons = {f["horizon"] for f in forecast(trained, "m")["forecasts"]}
    assert horizons == {1, 2, 3}


def test_a_version_whose_series_left_the_data_config_asks_for_retraining(trained: Engine) -> None:
    apply_document(
        trained, {"data_configs": [{"name": "panel", "targets": ["coffee", "tea"], "features": []}]}
    )
    with pytest.raises(Conflict, match="flu; retrain it"):
        forecast(trained, "m")


def test_training_on_too_little_data_is_a_clear_error(engine: Engine) -> None:
    document = _document(["coffee"], [])
    document["series"][0]["params"]["periods"] = 20
    apply_document(engine, document)
    refresh(engine)
    with pytest.raises(InvalidInput, match="no complete training rows"):
        train_model(engine, "m", windows=0)
    with pytest.raises(InvalidInput, match="not enough history"):
        train_model(engine, "m", windows=10)


EVERYDAY_LGBM = {
    "n_estimators": 20,
    "verbosity": -1,
    "max_bin": 63,
    "min_data_in_leaf": 5,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "objective": "quantile",
    "alpha": 0.5,
    "linear_tree": True,
    "extra_trees": True,
    "seed": 3,
}


def test_a_model_trains_with_lightgbm_parameter_names_and_aliases(engine: Engine, capfd) -> None:
    document = _document(["coffee", "tea"], [])
    document["ml_configs"][0]["params"] = EVERYDAY_LGBM
    apply_document(engine, document)
    refresh(engine)
    result = train_model(engine, "m", windows=2)
    assert result.status == "ready", result.reason
    with engine.connect() as conn:
        assert served_version(conn, "m").meta["ml_params"] == EVERYDAY_LGBM
    assert "LightGBM" not in "".join(capfd.readouterr())


def test_a_stored_config_lightgbm_refuses_fails_training_cleanly(engine: Engine, capfd) -> None:
    """Params stored before they were checked (older releases) fail the fit with our message only."""
    apply_document(engine, _document(["coffee"], []))
    refresh(engine)
    with engine.begin() as conn:
        conn.execute(update(MLConfig).values(params={"learning_rate": "fast", "verbose": 1}))
    with pytest.raises(InvalidInput, match="^ml config: learning_rate must be a number, got 'fast'$"):
        train_model(engine, "m", windows=0)
    with engine.begin() as conn:
        conn.execute(update(MLConfig).values(params={"num_leaves": 1}))
    with pytest.raises(InvalidInput, match=r"^ml config: LightGBM refuses the params: Check failed"):
        train_model(engine, "m", windows=0)
    assert "LightGBM" not in "".join(capfd.readouterr())


def test_backtest_metadata_is_stored_with_the_version(trained: Engine) -> None:
    with trained.connect() as conn:
        backtest = served_version(conn, "m").meta["backtest"]
    assert backtest["windows"] == 2 and len(backtest["cutoffs"]) == 2
    horizons = {row["horizon"] for row in backtest["metrics"]}
    methods = {row["method"] for row in backtest["metrics"]}
    assert horizons == {1, 2, 3, "all"} and methods == {"model", "seasonal_naive", "last_value"}
    assert set(backtest["interval"]["halfwidth"]) == {"1", "2", "3"}


def test_panel_of_the_trained_data_has_every_target(trained: Engine) -> None:
    with trained.connect() as conn:
        data = load_dataset(conn, get_model(conn, "m").data_config_id)
    panel = make_panel(data)
    assert panel.target_names == ("coffee", "tea") and panel.feature_names == ("flu",)
    assert np.isnan(panel.features[-2:]).all() and not np.isnan(panel.targets[-1]).any()
