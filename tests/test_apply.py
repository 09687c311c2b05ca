"""``forecasting.apply``: declarative upsert of series, configs and models from YAML."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select

from forecasting import apply as apply_module
from forecasting.apply import ApplyResult, apply_document, apply_file
from forecasting.configs import get_model
from forecasting.errors import InvalidInput, NotFound
from forecasting.models import DataConfig, DataConfigSeries, MLConfig, PreprocessingConfig, TimeSeries
from forecasting.series import add_series
from forecasting.sources.google_trends import GoogleTrendsSource
from tests.store_checks import snapshot, statements

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SAMPLE = EXAMPLES / "sample.yaml"
WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")


def sample() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE.read_text())


def actions(results: list[ApplyResult]) -> list[tuple[str, str, str]]:
    return [(r.kind, r.name, r.action) for r in results]


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().split(None, 1)[0].upper() in WRITES]


def members(engine: Engine, config: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(TimeSeries.name, DataConfigSeries.role)
            .join(DataConfigSeries, DataConfigSeries.timeseries_id == TimeSeries.id)
            .join(DataConfig, DataConfig.id == DataConfigSeries.data_config_id)
            .where(DataConfig.name == config)
        )
        return {name: role for name, role in rows}


SAMPLE_ITEMS = [
    ("series", "sample-coffee"),
    ("series", "sample-tea"),
    ("series", "sample-flu"),
    ("preprocessing_config", "weekly-12"),
    ("ml_config", "lgbm-small"),
    ("data_config", "sample-panel"),
    ("model", "sample-forecast"),
]


# The example files ---------------------------------------------------------------------


def test_applying_the_sample_creates_every_item(engine: Engine) -> None:
    results = apply_file(engine, SAMPLE)

    assert actions(results) == [(kind, name, "created") for kind, name in SAMPLE_ITEMS]
    assert results[0].as_dict() == {"kind": "series", "name": "sample-coffee", "action": "created"}
    with engine.connect() as conn:
        series = conn.execute(select(TimeSeries.name, TimeSeries.source, TimeSeries.params)).all()
        model = get_model(conn, "sample-forecast")
    assert {name: (source, params["seed"]) for name, source, params in series}["sample-flu"] == ("sample", 7)
    assert sorted(name for name, _, _ in series) == ["sample-coffee", "sample-flu", "sample-tea"]
    assert model.as_dict() == {
        "name": "sample-forecast",
        "ml_config": "lgbm-small",
        "data_config": "sample-panel",
        "preprocessing_config": "weekly-12",
        "ml_params": {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": 10,
            "n_jobs": 1,
            "random_state": 0,
        },
        "preprocessing": {
            "horizon": list(range(1, 13)),
            "target_lags": [1, 2, 3, 4, 52],
            "feature_lags": [1, 2],
            "include_lag_0": True,
        },
    }
    assert members(engine, "sample-panel") == {
        "sample-coffee": "target",
        "sample-tea": "target",
        "sample-flu": "feature",
    }


def test_google_trends_example_is_valid_and_downloads_nothing(engine: Engine, monkeypatch) -> None:
    def no_download(*_args, **_kwargs):
        raise AssertionError("apply must not download")

    monkeypatch.setattr(GoogleTrendsSource, "download", no_download)
    results = apply_file(engine, EXAMPLES / "google_trends.yaml")

    assert {r.action for r in results} == {"created"}
    assert [(r.kind, r.name) for r in results if r.kind in ("series", "model")] == [
        ("series", "coffee"),
        ("series", "tea"),
        ("series", "flu"),
        ("model", "trends-forecast"),
    ]
    with engine.connect() as conn:
        params = {name: p for name, p in conn.execute(select(TimeSeries.name, TimeSeries.params))}
    assert params["flu"] == {
        "keyword": "flu",
        "cat": 0,
        "gprop": "",
        "geo": "US",
        "timeframe": "2023-01-01 today",
    }
    assert members(engine, "trends-panel") == {"coffee": "target", "tea": "target", "flu": "feature"}


def test_both_examples_share_one_store_without_touching_each_other(engine: Engine) -> None:
    apply_file(engine, SAMPLE)
    apply_file(engine, EXAMPLES / "google_trends.yaml")
    assert {r.action for r in apply_file(engine, SAMPLE)} == {"unchanged"}


# Re-applying ---------------------------------------------------------------------------


def test_reapplying_reports_unchanged_and_writes_nothing(engine: Engine) -> None:
    apply_file(engine, SAMPLE)
    before = snapshot(engine)

    with statements(engine) as seen:
        results = apply_file(engine, SAMPLE)

    assert actions(results) == [(kind, name, "unchanged") for kind, name in SAMPLE_ITEMS]
    assert writes(seen) == []
    # One SELECT per kind (plus SQLite's BEGIN IMMEDIATE).
    assert len([s for s in seen if s.startswith("SELECT")]) == 5
    assert snapshot(engine) == before


def document(n: int) -> dict[str, Any]:
    """n items of every kind, model i using the configs i."""
    return {
        "series": [{"name": f"s{i}", "source": "sample", "params": {"periods": 10 + i}} for i in range(n)],
        "preprocessing_configs": [
            {"name": f"p{i}", "params": {"horizon": i + 1, "target_lags": [1]}} for i in range(n)
        ],
        "ml_configs": [{"name": f"m{i}", "params": {"n_estimators": 2 + i}} for i in range(n)],
        "data_configs": [{"name": f"d{i}", "targets": [f"s{i}"]} for i in range(n)],
        "models": [
            {
                "name": f"model{i}",
                "ml_config": f"m{i}",
                "data_config": f"d{i}",
                "preprocessing_config": f"p{i}",
            }
            for i in range(n)
        ],
    }


def counted_apply(engine: Engine, doc: dict[str, Any]) -> list[str]:
    with statements(engine) as seen:
        apply_document(engine, doc)
    return seen


def test_statement_count_does_not_grow_with_the_number_of_items(engine: Engine) -> None:
    small, large = document(2), document(12)

    created_small = counted_apply(engine, small)
    created_large = counted_apply(engine, {k: v[2:] for k, v in large.items()})
    assert len(created_small) == len(created_large)

    unchanged_small = counted_apply(engine, small)
    unchanged_large = counted_apply(engine, large)
    assert len(unchanged_small) == len(unchanged_large)
    assert writes(unchanged_large) == []


def test_updates_cost_one_statement_per_kind_whatever_the_number_changed(engine: Engine) -> None:
    doc = document(12)
    apply_document(engine, doc)
    changed = copy.deepcopy(doc)
    for i in range(12):
        changed["series"][i]["params"]["periods"] += 100
        changed["preprocessing_configs"][i]["params"]["feature_lags"] = [1]
        changed["ml_configs"][i]["params"]["learning_rate"] = 0.2
        changed["data_configs"][i]["features"] = [f"s{(i + 1) % 12}"]
        changed["models"][i]["ml_config"] = f"m{(i + 1) % 12}"

    with statements(engine) as seen:
        results = apply_document(engine, changed)

    assert {r.action for r in results} == {"updated"}
    assert sorted(s.split()[0] for s in writes(seen)) == ["DELETE", "INSERT"] + ["UPDATE"] * 4


# Editing -------------------------------------------------------------------------------


def test_an_edited_file_reports_exactly_what_changed(engine: Engine, tmp_path: Path) -> None:
    apply_file(engine, SAMPLE)
    doc = sample()
    doc["series"][2]["params"]["seed"] = 8  # sample-flu
    doc["ml_configs"][0]["params"]["learning_rate"] = 0.1  # lgbm-small
    doc["preprocessing_configs"].append({"name": "weekly-4", "params": {"horizon": 4, "target_lags": [1, 2]}})
    doc["data_configs"][0]["targets"].append("sample-flu")  # sample-panel
    doc["data_configs"][0]["features"] = []
    doc["models"][0]["preprocessing_config"] = "weekly-4"  # sample-forecast
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(doc))

    results = apply_file(engine, edited)

    assert [(r.kind, r.name, r.action) for r in results if r.action != "unchanged"] == [
        ("series", "sample-flu", "updated"),
        ("preprocessing_config", "weekly-4", "created"),
        ("ml_config", "lgbm-small", "updated"),
        ("data_config", "sample-panel", "updated"),
        ("model", "sample-forecast", "updated"),
    ]
    assert [r.name for r in results if r.action == "unchanged"] == [
        "sample-coffee",
        "sample-tea",
        "weekly-12",
    ]
    with engine.connect() as conn:
        assert conn.scalar(select(TimeSeries.params).where(TimeSeries.name == "sample-flu"))["seed"] == 8
        assert conn.scalar(select(MLConfig.params))["learning_rate"] == 0.1
        model = get_model(conn, "sample-forecast")
    assert model.preprocessing_config == "weekly-4"
    assert members(engine, "sample-panel") == dict.fromkeys(
        ["sample-coffee", "sample-tea", "sample-flu"], "target"
    )
    assert {r.action for r in apply_file(engine, edited)} == {"unchanged"}


def test_params_are_compared_as_the_source_normalises_them(engine: Engine) -> None:
    apply_file(engine, SAMPLE)
    doc = sample()
    doc["series"][2]["params"] = {"seed": "7", "periods": 260}  # the same as seed: 7
    assert {r.action for r in apply_document(engine, doc)} == {"unchanged"}


def test_params_compare_exactly_one_is_not_one_point_zero(engine: Engine) -> None:
    doc = {"ml_configs": [{"name": "m", "params": {"learning_rate": 1}}]}
    apply_document(engine, doc)
    doc["ml_configs"][0]["params"]["learning_rate"] = 1.0
    assert actions(apply_document(engine, doc)) == [("ml_config", "m", "updated")]


def test_references_may_name_stored_objects(engine: Engine) -> None:
    apply_file(engine, SAMPLE)
    add_series(engine, "cocoa", "sample", {})
    doc = {
        "data_configs": [{"name": "cocoa-panel", "targets": ["cocoa", "sample-tea"]}],
        "models": [
            {
                "name": "cocoa-forecast",
                "ml_config": "lgbm-small",
                "data_config": "cocoa-panel",
                "preprocessing_config": "weekly-12",
            }
        ],
    }
    assert actions(apply_document(engine, doc)) == [
        ("data_config", "cocoa-panel", "created"),
        ("model", "cocoa-forecast", "created"),
    ]
    assert members(engine, "cocoa-panel") == {"cocoa": "target", "sample-tea": "target"}


# Failures leave the store unchanged ----------------------------------------------------


def test_unknown_reference_in_the_last_section_writes_nothing(engine: Engine) -> None:
    apply_file(engine, SAMPLE)
    before = snapshot(engine)
    doc = sample()
    doc["series"].append({"name": "sample-cocoa", "source": "sample"})
    doc["ml_configs"][0]["params"]["learning_rate"] = 0.1
    doc["data_configs"][0]["features"] = ["sample-flu", "cocoa"]
    doc["models"].append(
        {"name": "other", "ml_config": "big", "data_config": "sample-panel", "preprocessing_config": "daily"}
    )

    with pytest.raises(NotFound) as error:
        apply_document(engine, doc)

    assert str(error.value) == (
        "data_configs[0] ('sample-panel'): unknown series: cocoa; "
        "models[1] ('other'): unknown ml config 'big', preprocessing config 'daily'"
    )
    assert snapshot(engine) == before


def test_invalid_last_item_writes_nothing_to_an_empty_store(engine: Engine) -> None:
    before = snapshot(engine)
    doc = sample()
    doc["models"][0]["ml_cfg"] = "lgbm-small"
    with statements(engine) as seen, pytest.raises(InvalidInput, match="unknown key 'ml_cfg'"):
        apply_document(engine, doc)
    assert seen == []  # validation needs no database
    assert snapshot(engine) == before


def test_failure_while_writing_rolls_back_every_section(engine: Engine, monkeypatch) -> None:
    def fail(*_args) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(apply_module._Writer, "_write_models", fail)
    before = snapshot(engine)
    with pytest.raises(RuntimeError, match="disk full"):
        apply_file(engine, SAMPLE)
    assert snapshot(engine) == before


# Error messages ------------------------------------------------------------------------


def with_models(*models: dict[str, Any]) -> dict[str, Any]:
    return {**sample(), "models": list(models)}


MODEL = {
    "name": "flu",
    "ml_config": "lgbm-small",
    "data_config": "sample-panel",
    "preprocessing_config": "weekly-12",
}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (None, "the document is empty"),
        ([1, 2], "the document must be a mapping with sections series, preprocessing_configs"),
        ({"serie": []}, "unknown section 'serie'; known sections: series, preprocessing_configs"),
        ({"series": {"name": "a"}}, "series must be a list of items (write [] for none), got {'name': 'a'}"),
        ({"models": None}, "models must be a list of items (write [] for none), got None"),
        ({"series": ["a"]}, "series[0]: must be a mapping with keys name, source, params, got 'a'"),
        (
            with_models(MODEL, {**MODEL, "name": "flu2", "ml_cfg": "x"}),
            "models[1] ('flu2'): unknown key 'ml_cfg'; known: name, ml_config, data_config",
        ),
        (with_models({"name": "flu", "ml_config": "x"}), "models[0] ('flu'): missing keys 'data_config'"),
        ({"series": [{"source": "sample"}]}, "series[0]: missing key 'name'"),
        ({"series": [{"name": 7, "source": "sample"}]}, "series[0]: name must be a text, got 7"),
        (
            {"series": [{"name": " a", "source": "sample"}]},
            "series[0] (' a'): series name ' a' must not start or end with whitespace",
        ),
        (with_models(MODEL, MODEL), "models[1] ('flu'): duplicate name, also models[0]"),
        (
            {"series": [{"name": "a", "source": "sample", "params": {"sed": 1}}]},
            "series[0] ('a'): unknown param(s) sed for source 'sample'",
        ),
        (
            {"series": [{"name": "a", "source": "sample", "params": {"seed": -1}}]},
            "series[0] ('a'): param seed must be >= 0, got -1",
        ),
        (
            {"series": [{"name": "a", "source": "pigeon"}]},
            "series[0] ('a'): unknown source 'pigeon'",
        ),
        (
            {"series": [{"name": "a", "source": "sample", "params": [1]}]},
            "series[0] ('a'): params must be a mapping",
        ),
        (
            {"preprocessing_configs": [{"name": "p", "params": {"horizon": 1, "lags": [1]}}]},
            "preprocessing_configs[0] ('p'): unknown key 'lags'; known: horizon, target_lags",
        ),
        (
            {"preprocessing_configs": [{"name": "p", "params": {"horizon": [1, 1], "target_lags": [1]}}]},
            "preprocessing_configs[0] ('p'): horizon has duplicates",
        ),
        (
            {"ml_configs": [{"name": "m", "params": {"verbosity_level": 1}}]},
            "ml_configs[0] ('m'): verbosity_level is not a",  # the wording: test_configs.py
        ),
        (
            {"ml_configs": [{"name": "m", "params": {"num_leaves": 1}}]},
            "ml_configs[0] ('m'): LightGBM refuses the params",
        ),
        (
            {"ml_configs": [{"name": "m", "params": {1: 2}}]},
            "the document: ml_configs[0].params has the key 1: keys must be texts",
        ),
        (
            {"data_configs": [{"name": "d", "targets": ["a"], "features": ["a"]}]},
            "data_configs[0] ('d'): series cannot be both target and feature: a",
        ),
        (
            {"data_configs": [{"name": "d", "targets": []}]},
            "data_configs[0] ('d'): targets must not be an empty list",
        ),
        (
            with_models({**MODEL, "data_config": ["sample-panel"]}),
            "models[0] ('flu'): data_config must be the name of a data config",
        ),
    ],
)
def test_invalid_documents_are_refused_naming_section_item_and_key(engine: Engine, doc, message: str) -> None:
    with pytest.raises(InvalidInput) as error:
        apply_document(engine, doc)
    assert message in str(error.value)
    assert all(rows == [] for rows in snapshot(engine).values())


def test_file_errors_name_the_file_and_the_line(engine: Engine, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("series:\n  - name: a\n    source: sample\n   params: [\n")
    with pytest.raises(InvalidInput, match=r"broken\.yaml: line 4, column 4: invalid YAML"):
        apply_file(engine, broken)

    with pytest.raises(InvalidInput, match=r"missing\.yaml: file not found"):
        apply_file(engine, tmp_path / "missing.yaml")

    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text("models:\n  - name: flu\n    ml_cfg: x\n")
    with pytest.raises(InvalidInput, match=r"bad\.yaml: models\[0\] \('flu'\): unknown key 'ml_cfg'"):
        apply_file(engine, bad_key)

    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(InvalidInput, match=r"empty\.yaml: the document is empty"):
        apply_file(engine, empty)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "models:\n  - name: flu\n    ml_cfg: x\n",
            InvalidInput,
            "models[0] ('flu'): unknown key 'ml_cfg'; "
            "known: name, ml_config, data_config, preprocessing_config",
        ),
        (
            "data_configs:\n  - name: d\n    targets: [a]\n"
            "models:\n  - {name: m, ml_config: x, data_config: d, preprocessing_config: p}\n",
            NotFound,
            "data_configs[0] ('d'): unknown series: a; "
            "models[0] ('m'): unknown ml config 'x', preprocessing config 'p'",
        ),
    ],
)
def test_a_file_is_named_once_at_the_start_of_its_errors(
    engine: Engine, tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(error) as raised:
        apply_file(engine, bad)
    assert str(raised.value) == f"{bad}: {message}"


def test_an_empty_mapping_applies_nothing(engine: Engine) -> None:
    with statements(engine) as seen:
        assert apply_document(engine, {"series": [], "models": []}) == []
    assert seen == []


def test_preprocessing_params_are_stored_as_written(engine: Engine) -> None:
    apply_document(
        engine, {"preprocessing_configs": [{"name": "p", "params": {"horizon": [2, 1], "feature_lags": [3]}}]}
    )
    with engine.connect() as conn:
        assert conn.scalar(select(PreprocessingConfig.params)) == {"horizon": [2, 1], "feature_lags": [3]}
