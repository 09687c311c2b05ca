"""The config validators and the create/delete functions of ``forecasting.configs``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import Engine, select

from forecasting.configs import (
    create_data_config,
    create_model,
    create_params_config,
    data_config_members,
    delete_config,
    get_model,
    ml_params,
    preprocessing_params,
    validate_params,
)
from forecasting.errors import Conflict, InvalidInput, NotFound
from forecasting.estimator import fit
from forecasting.lightgbm_params import quiet_fatal
from forecasting.models import DataConfig, DataConfigSeries, MLConfig, MLModel
from forecasting.series import add_series, delete_series

LAGS = {"target_lags": [1, 2], "feature_lags": [1]}
GOOD_ML = {
    "n_estimators": 20,
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_child_samples": 2,
    "random_state": 0,
}

# Preprocessing params ------------------------------------------------------------------


def test_int_horizon_is_a_single_horizon() -> None:
    params = preprocessing_params({"horizon": 3, **LAGS}, "p")
    assert (params.horizons, params.multi_horizon) == ((3,), False)
    assert params.as_params() == {"horizon": 3, "target_lags": [1, 2], "feature_lags": [1]}


def test_list_horizon_is_multi_horizon_and_sorted() -> None:
    params = preprocessing_params({"horizon": [4, 1, 2], "target_lags": [52, 1]}, "p")
    assert (params.horizons, params.multi_horizon) == ((1, 2, 4), True)
    assert (params.target_lags, params.feature_lags) == ((1, 52), ())
    assert params.as_params()["horizon"] == [1, 2, 4]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon": True, **LAGS}, "horizon must hold integers from 1 to 520, got True"),
        ({"horizon": [1, False], **LAGS}, "horizon must hold integers from 1 to 520, got False"),
        ({"horizon": 1, "target_lags": [True]}, "target_lags must hold integers from 1 to 1000, got True"),
        ({"horizon": 0, **LAGS}, "horizon must hold integers from 1 to 520, got 0"),
        ({"horizon": 1, "target_lags": [0]}, "target_lags must hold integers from 1 to 1000, got 0"),
        ({"horizon": 1.5, **LAGS}, "got 1.5"),
        ({"horizon": "3", **LAGS}, "got '3'"),
        ({"horizon": [], **LAGS}, "horizon must not be an empty list"),
        ({"horizon": [1, 1], **LAGS}, "horizon has duplicates: 1"),
        ({"horizon": 1, "target_lags": [2, 2]}, "target_lags has duplicates"),
        ({"horizon": 1, "target_lags": 2}, "target_lags must be a list of integers, got 2"),
        (
            {"horizon": 1, "target_lags": [1], "window": 4},
            "unknown key 'window'; known: horizon, target_lags",
        ),
        ({"horizon": 1}, "target_lags and feature_lags cannot both be empty"),
        ({"horizon": 1, "target_lags": [], "feature_lags": []}, "cannot both be empty"),
        ({"target_lags": [1]}, "missing key 'horizon'"),
        ([("horizon", 1)], "params must be a mapping"),
        (
            {"horizon": [1, 2], **LAGS, "horizons_per_origin": [1, 2]},
            "horizons_per_origin must be an integer",
        ),
        ({"horizon": [1, 2], **LAGS, "horizons_per_origin": 3}, "from 1 to 2, got 3"),
        (
            {"horizon": [1, 2], **LAGS, "horizons_per_origin": True},
            "horizons_per_origin must be an integer from 1 to the number of horizons, got True",
        ),
        ({"horizon": 1, **LAGS, "include_lag_0": 1}, "include_lag_0 must be true or false, got 1"),
    ],
)
def test_bad_preprocessing_params_are_refused_naming_config_and_key(params, message: str) -> None:
    with pytest.raises(InvalidInput, match="preprocessing config 'weekly'") as error:
        preprocessing_params(params, "weekly")
    assert message in str(error.value)


def test_validate_params_keeps_preprocessing_params_as_given() -> None:
    given = {"horizon": [2, 1], "target_lags": [1]}
    assert validate_params("preprocessing_config", "p", given) == given


# ML params -----------------------------------------------------------------------------


def test_good_ml_params_are_accepted_unchanged() -> None:
    assert ml_params(GOOD_ML, "m") == GOOD_ML
    assert validate_params("ml_config", "m", GOOD_ML) == GOOD_ML
    assert ml_params({}, "m") == {}


# LightGBM's own parameter names and their aliases, as users write them in configs.
EVERYDAY_ML = [
    {"verbose": -1},
    {"verbosity": -1},
    {"max_bin": 63},
    {"min_data_in_leaf": 3},
    {"feature_fraction": 0.8},
    {"bagging_fraction": 0.8, "bagging_freq": 1},
    {"lambda_l2": 1.0},
    {"objective": "quantile", "alpha": 0.9},
    {"linear_tree": True},
    {"extra_trees": True},
    {"seed": 7},
    {"loss": "huber"},
    {"monotone_constraints": [1, 0, -1]},
]


def small_training(columns: list[str], rows: int = 80) -> pd.DataFrame:
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(rows, len(columns))), columns=columns)
    frame["y"] = frame[columns[0]] * 2 + 10
    return frame


@pytest.mark.parametrize("params", EVERYDAY_ML, ids=lambda p: ",".join(p))
def test_lightgbm_parameters_and_aliases_are_accepted_and_train(params, capfd) -> None:
    assert validate_params("ml_config", "m", params) == params
    booster = fit(small_training(["a", "b", "c"]), ["a", "b", "c"], {**params, "n_estimators": 5})
    assert booster.num_trees() == 5
    assert "LightGBM" not in "".join(capfd.readouterr())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_leafs": 3}, "num_leafs is not a LightGBM parameter (did you mean num_leaves?)"),
        (
            {"n_estimator": 3, "zzz": 1},
            "n_estimator is not a LightGBM parameter (did you mean n_estimators?); zzz",
        ),
    ],
)
def test_unknown_ml_key_is_named(params, message: str) -> None:
    with pytest.raises(InvalidInput, match=r"^ml config 'm': ") as error:
        ml_params(params, "m")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"learning_rate": "fast"}, "learning_rate must be a number, got 'fast'"),
        (
            {"learning_rate": "1e-3"},
            "learning_rate must be a number, got the text '1e-3' (YAML reads 1e-3 as",
        ),
        ({"max_bin": 63.5}, "max_bin must be an integer, got 63.5"),
        ({"num_leaves": True}, "num_leaves must be an integer, got True"),
        ({"linear_tree": "yes please"}, "linear_tree must be true or false, got 'yes please'"),
        ({"objective": 3}, "objective must be a string, got 3"),
        ({"metric": ["l1", 2]}, "metric must be a string or a list of strings, got ['l1', 2]"),
        ({"monotone_constraints": "1,0"}, "monotone_constraints must be a list of numbers, got '1,0'"),
        ({"seed": 1, "random_state": 2}, "seed and random_state are the same LightGBM parameter (seed)"),
        ({"num_machines": 2}, "num_machines is not allowed: it makes LightGBM use files or network"),
        ({"forcedsplits_filename": "/etc/passwd"}, "forcedsplits_filename is not allowed"),
        ({"categorical_feature": [0]}, "LightGBM ignores categorical_feature in params"),
        (
            {"monotone_constraints": [1, 0], "feature_contri": [1.0, 1.0, 1.0]},
            "monotone_constraints has 2 values and feature_contri 3: each gives one value per feature column",
        ),
    ],
)
def test_values_of_the_wrong_type_are_refused_naming_parameter_and_value(params, message: str) -> None:
    with pytest.raises(InvalidInput, match=r"^ml config 'm': ") as error:
        ml_params(params, "m")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_leaves": 1}, "Check failed: (num_leaves) > (1)"),
        ({"learning_rate": -0.1}, "Check failed: (learning_rate) > (0.0)"),
        ({"boosting_type": "forest"}, "Unknown boosting type forest"),
        ({"objective": "quantile", "alpha": 1.5}, "Check failed: alpha_ > 0 && alpha_ < 1"),
        ({"early_stopping_round": 3}, "For early stopping, at least one dataset and eval metric is required"),
    ],
)
def test_values_lightgbm_refuses_are_refused_when_saved_without_its_noise(
    params, message: str, capfd
) -> None:
    with pytest.raises(InvalidInput, match=r"^ml config 'm': LightGBM refuses the params: ") as error:
        ml_params(params, "m")
    assert message in str(error.value)
    assert " at /" not in str(error.value)  # LightGBM's source file and line are no use to a user
    assert "LightGBM" not in "".join(capfd.readouterr())


def test_per_feature_params_must_match_the_feature_columns_when_fitting(capfd) -> None:
    columns = ["a", "b", "c", "d"]
    with pytest.raises(
        InvalidInput, match="monotone_constraints has 3 values, but the model has 4 feature col"
    ):
        fit(small_training(columns), columns, {"monotone_constraints": [1, 0, -1]})
    assert "LightGBM" not in "".join(capfd.readouterr())


def test_a_fit_lightgbm_refuses_for_its_data_is_a_clean_error(capfd) -> None:
    training = small_training(["a", "b"])
    training["y"] -= 100  # negative labels, which the poisson objective refuses
    with pytest.raises(InvalidInput, match=r"LightGBM cannot fit the ml params on this data: .*negative"):
        fit(training, ["a", "b"], {"objective": "poisson"})
    assert "LightGBM" not in "".join(capfd.readouterr())


def test_quiet_fatal_drops_only_lightgbm_fatal_lines(capfd) -> None:
    with quiet_fatal() as release:
        os.write(2, b"[LightGBM] [Fatal] Check failed: x at /src/a.cpp, line 1 .\n\nother output\n")
        release()
        os.write(2, b"after release\n")
    assert capfd.readouterr().err == "other output\nafter release\n"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"learning_rate": "fast"}, "learning_rate must be a number, got 'fast'"),
        ({"num_leaves": 1}, "LightGBM refuses the params: Check failed: (num_leaves) > (1)"),
    ],
)
def test_cli_apply_of_a_refused_ml_config_prints_only_the_clean_message(
    tmp_path: Path, params, message: str
) -> None:
    """What a user sees: the CLI's one-line error, none of LightGBM's own output."""
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"ml_configs": [{"name": "bad", "params": params}]}))
    env = {**os.environ, "FORECASTING_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    for args, code in ((["db", "upgrade"], 0), (["apply", str(config)], 1)):
        done = subprocess.run(
            [sys.executable, "-m", "forecasting", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == code, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(f"Error: {config}: ") and done.stderr.strip().endswith(message)
    assert len(done.stderr.strip().splitlines()) == 1  # no [LightGBM] line before it


def test_ml_params_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInput, match="params must be a mapping"):
        ml_params([1, 2], "m")


# Data config members -------------------------------------------------------------------


def test_members_map_each_series_to_its_role() -> None:
    assert data_config_members(["a", "b"], ["c"], "d") == {"a": "target", "b": "target", "c": "feature"}
    assert data_config_members(("a",), (), "d") == {"a": "target"}


@pytest.mark.parametrize(
    ("targets", "features", "message"),
    [
        ([], ["c"], "targets must not be an empty list"),
        (["a", "b"], ["b"], "series cannot be both target and feature: b"),
        (["a", "a"], [], "targets lists a series twice"),
        (["a"], ["c", "c"], "features lists a series twice"),
        ("a", [], "targets must be a list of series names"),
        (["a"], None, "features must be a list of series names"),
        (["a", 1], [], "targets must hold series names"),
    ],
)
def test_bad_data_config_members_are_refused(targets, features, message: str) -> None:
    with pytest.raises(InvalidInput, match="data config 'd'") as error:
        data_config_members(targets, features, "d")
    assert message in str(error.value)


def test_data_config_with_unknown_series_is_refused_naming_them(engine: Engine) -> None:
    add_series(engine, "coffee", "sample", {})
    with pytest.raises(NotFound, match="unknown series: flu, tea"):
        create_data_config(engine, "panel", ["coffee", "tea"], ["flu"])
    with engine.connect() as conn:
        assert conn.scalar(select(DataConfig.id)) is None


# Create and delete on a real store ----------------------------------------------------


@pytest.fixture
def stored_model(engine: Engine) -> Engine:
    """A store holding series coffee, tea, flu and model ``forecast`` using configs of each kind."""
    for name in ("coffee", "tea", "flu"):
        add_series(engine, name, "sample", {})
    create_params_config(engine, "preprocessing_config", "weekly", {"horizon": [1, 2], "target_lags": [1]})
    create_params_config(engine, "ml_config", "small", GOOD_ML)
    create_data_config(engine, "panel", ["coffee", "tea"], ["flu"])
    create_model(engine, "forecast", ml_config="small", data_config="panel", preprocessing_config="weekly")
    return engine


def test_created_model_reads_back_with_its_configs(stored_model: Engine) -> None:
    with stored_model.connect() as conn:
        spec = get_model(conn, "forecast")
        members = conn.execute(
            select(DataConfigSeries.role).join(DataConfig).order_by(DataConfigSeries.role)
        ).scalars()
        assert list(members) == ["feature", "target", "target"]
    assert spec.as_dict() == {
        "name": "forecast",
        "ml_config": "small",
        "data_config": "panel",
        "preprocessing_config": "weekly",
        "ml_params": GOOD_ML,
        "preprocessing": {"horizon": [1, 2], "target_lags": [1], "feature_lags": []},
    }


@pytest.mark.parametrize(
    ("create", "message"),
    [
        (
            lambda e: create_params_config(
                e, "preprocessing_config", "weekly", {"horizon": 1, "target_lags": [1]}
            ),
            "preprocessing config 'weekly' already exists",
        ),
        (lambda e: create_params_config(e, "ml_config", "small", {}), "ml config 'small' already exists"),
        (lambda e: create_data_config(e, "panel", ["tea"], []), "data config 'panel' already exists"),
        (
            lambda e: create_model(
                e, "forecast", ml_config="small", data_config="panel", preprocessing_config="weekly"
            ),
            "model 'forecast' already exists",
        ),
    ],
)
def test_duplicate_name_is_a_conflict(stored_model: Engine, create, message: str) -> None:
    with pytest.raises(Conflict, match=message):
        create(stored_model)


def test_model_with_unknown_configs_is_refused_naming_them(stored_model: Engine) -> None:
    with pytest.raises(NotFound, match="unknown ml config 'big', preprocessing config 'daily'"):
        create_model(
            stored_model, "other", ml_config="big", data_config="panel", preprocessing_config="daily"
        )


def test_invalid_config_is_refused_before_storing(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="ml config 'x': num_leafs"):
        create_params_config(engine, "ml_config", "x", {"num_leafs": 3})
    with pytest.raises(InvalidInput, match="ml config name ' x'"):
        create_params_config(engine, "ml_config", " x", {})
    with engine.connect() as conn:
        assert conn.scalar(select(MLConfig.id)) is None


@pytest.mark.parametrize(
    ("kind", "name"), [("preprocessing_config", "weekly"), ("ml_config", "small"), ("data_config", "panel")]
)
def test_config_used_by_a_model_cannot_be_deleted(stored_model: Engine, kind: str, name: str) -> None:
    with pytest.raises(Conflict, match=rf"{kind.replace('_', ' ')} '{name}' is used by model\(s\): forecast"):
        delete_config(stored_model, kind, name)


def test_series_used_by_a_data_config_cannot_be_deleted(stored_model: Engine) -> None:
    with pytest.raises(Conflict, match=r"series 'flu' is used by data config\(s\): panel"):
        delete_series(stored_model, "flu")


def test_deleting_the_model_frees_its_configs(stored_model: Engine) -> None:
    delete_config(stored_model, "model", "forecast")
    for kind, name in (("data_config", "panel"), ("ml_config", "small"), ("preprocessing_config", "weekly")):
        delete_config(stored_model, kind, name)
    delete_series(stored_model, "flu")
    with stored_model.connect() as conn:
        assert conn.scalar(select(MLModel.id)) is None
        assert conn.scalar(select(DataConfigSeries.role)) is None


def test_deleting_an_unknown_config_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="unknown data config: nope"):
        delete_config(engine, "data_config", "nope")
