"""The input schemas state the rules the validators enforce: one home for each rule.

Each schema's ``model_json_schema()`` is what the service's OpenAPI document shows; a value
it refuses must be refused by the validator the CLI, ``apply``, the service and the DAGs
call, and a value it accepts must pass (save for the rules only LightGBM's tiny fit knows).
"""

from __future__ import annotations

import zlib
from typing import Any

import jsonschema
import pytest
from pydantic import TypeAdapter, ValidationError

from forecasting.config_inputs import (
    MAX_HORIZON,
    MAX_LAG,
    NAME_SCHEMA,
    ApplyDocument,
    DataConfigMembers,
    ModelInput,
    PreprocessingInput,
    SeriesInput,
)
from forecasting.configs import data_config_members, ml_params, preprocessing_params
from forecasting.errors import InvalidInput
from forecasting.lightgbm_params import (
    HOST_PARAMETERS,
    canonical_names,
    dataset_arguments,
    parameter_types,
    params_model,
)
from forecasting.models import NAME_LENGTH
from forecasting.series import validate_name
from forecasting.sources import SOURCE_NAMES
from forecasting.sources.params import (
    GPROPS,
    MAX_INTEGER,
    PARAMS_MODELS,
    CsvParams,
    GoogleTrendsParams,
    SampleParams,
    UploadParams,
    parse,
)
from forecasting.sources.sample import SampleSource
from forecasting.sources.upload import UploadSource
from serving.settings import MAX_REQUEST_TIMEOUT_S, Settings


def schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def validator_accepts(validate, value: Any) -> bool:
    try:
        validate(value)
    except InvalidInput:
        return False
    return True


# Preprocessing params ---------------------------------------------------------------------


def test_the_preprocessing_schema_states_bounds_required_and_unknown_keys() -> None:
    schema = PreprocessingInput.model_json_schema()
    one, several = schema["properties"]["horizon"]["anyOf"]
    assert (one["type"], one["minimum"], one["maximum"]) == ("integer", 1, 520) and MAX_HORIZON == 520
    assert several["items"] == one and several["minItems"] == 1 and several["uniqueItems"] is True
    for key in ("target_lags", "feature_lags"):
        lags = schema["properties"][key]
        assert lags["items"] == {"type": "integer", "minimum": 1, "maximum": MAX_LAG}
        assert lags["uniqueItems"] is True
    assert schema["properties"]["include_lag_0"]["type"] == "boolean"
    assert schema["required"] == ["horizon"]
    assert schema["additionalProperties"] is False


PREPROCESSING_CASES = [
    {"horizon": 4, "target_lags": [1]},
    {"horizon": [1, 2, 3], "feature_lags": [1, 52], "include_lag_0": True, "horizons_per_origin": 2},
    {"horizon": 0, "target_lags": [1]},
    {"horizon": MAX_HORIZON, "target_lags": [MAX_LAG]},
    {"horizon": MAX_HORIZON + 1, "target_lags": [1]},
    {"horizon": 1, "target_lags": [MAX_LAG + 1]},
    {"horizon": [], "target_lags": [1]},
    {"horizon": [2, 2], "target_lags": [1]},
    {"horizon": True, "target_lags": [1]},
    {"horizon": "3", "target_lags": [1]},
    {"horizon": 1, "target_lags": 1},
    {"horizon": 1, "target_lags": [1], "include_lag_0": "yes"},
    {"horizon": 1, "target_lags": [1], "window": 3},
    {"target_lags": [1]},
]


@pytest.mark.parametrize("params", PREPROCESSING_CASES)
def test_the_preprocessing_validator_refuses_what_the_schema_refuses(params: dict[str, Any]) -> None:
    """(JSON Schema counts 1.0 as an integer; the validator, like Python, does not.)"""
    schema = PreprocessingInput.model_json_schema()
    assert validator_accepts(lambda p: preprocessing_params(p, "p"), params) == schema_accepts(schema, params)


def test_rules_across_keys_are_the_validators_and_named_in_its_message() -> None:
    """Not stated by the schema: no lags at all, more horizons per origin than horizons."""
    with pytest.raises(InvalidInput, match="^preprocessing config 'p': target_lags and feature_lags cannot"):
        preprocessing_params({"horizon": 1}, "p")
    with pytest.raises(InvalidInput, match="horizons_per_origin must be an integer from 1 to 2, got 3"):
        preprocessing_params({"horizon": [1, 2], "target_lags": [1], "horizons_per_origin": 3}, "p")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon": 521, "target_lags": [1]}, "horizon must hold integers from 1 to 520, got 521"),
        ({"horizon": [3, 0], "target_lags": [1]}, "horizon must hold integers from 1 to 520, got 0"),
        ({"horizon": 1, "feature_lags": [1001]}, "feature_lags must hold integers from 1 to 1000, got 1001"),
        ({"horizon": 1, "feature_lags": {"a": 1}}, "feature_lags must be a list of integers, got {'a': 1}"),
    ],
)
def test_messages_name_the_config_the_key_and_the_bound(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as error:
        preprocessing_params(params, "p")
    assert str(error.value) == f"preprocessing config 'p': {message}"


# ML params: LightGBM's own table -----------------------------------------------------------

JSON_TYPES = {"int": "integer", "double": "number", "bool": "boolean", "string": "string"}


def test_the_ml_schema_types_every_name_lightgbm_accepts_by_its_table() -> None:
    schema = params_model().model_json_schema()
    names, types = canonical_names(), parameter_types()
    properties = schema["properties"]
    assert schema["additionalProperties"] is False
    for key, name in names.items():
        if name in HOST_PARAMETERS or key in dataset_arguments():
            assert key not in properties, key
            continue
        kind = types.get(name)
        if kind in JSON_TYPES:
            assert properties[key]["anyOf"] == [{"type": JSON_TYPES[kind]}, {"type": "null"}], key
    assert {"n_estimators", "num_iterations", "min_child_samples", "random_state", "verbose"} <= set(
        properties
    )
    assert properties["num_leaves"]["anyOf"][0] == {"type": "integer"}
    assert properties["learning_rate"]["anyOf"][0] == {"type": "number"}
    assert {"items": {"type": "string"}, "type": "array"} in properties["metric"]["anyOf"]
    assert "machines" not in properties and "categorical_feature" not in properties


ML_CASES = [
    {"n_estimators": 5, "learning_rate": 0.1, "num_leaves": 7},
    {"learning_rate": 1},
    {"learning_rate": "fast"},
    {"num_leaves": 7.5},
    {"num_leaves": True},
    {"linear_tree": 1},
    {"objective": 3},
    {"metric": ["l1", "l2"]},
    {"metric": ["l1", 2]},
    {"monotone_constraints": [1, 0, -1]},
    {"monotone_constraints": "1,0"},
    {"num_leafs": 3},
    {"machines": "10.0.0.1:12400"},
    {"categorical_feature": [0]},
    {"seed": None},
]


@pytest.mark.parametrize("params", ML_CASES)
def test_the_ml_validator_refuses_what_the_schema_refuses(params: dict[str, Any]) -> None:
    schema = params_model().model_json_schema()
    assert validator_accepts(lambda p: ml_params(p, "m"), params) == schema_accepts(schema, params)


def test_an_ml_value_the_schema_accepts_may_still_be_refused_by_lightgbms_tiny_fit() -> None:
    """Ranges and combinations are LightGBM's own: its check runs after the schema's."""
    params = {"num_leaves": 1}
    assert schema_accepts(params_model().model_json_schema(), params)
    with pytest.raises(
        InvalidInput, match=r"LightGBM refuses the params: Check failed: \(num_leaves\) > \(1\)"
    ):
        ml_params(params, "m")


# Data configs, models, series, the apply document --------------------------------------------


def test_the_data_config_schema_states_at_least_one_target_and_no_series_twice() -> None:
    schema = DataConfigMembers.model_json_schema()
    assert schema["properties"]["targets"]["minItems"] == 1
    assert schema["properties"]["targets"]["uniqueItems"] is True
    assert schema["properties"]["features"]["uniqueItems"] is True
    assert schema["required"] == ["targets"] and schema["additionalProperties"] is False
    for targets, features in ((["a"], ["b"]), ([], ["b"]), (["a", "a"], []), ("a", []), ([1], [])):
        value = {"targets": targets, "features": features}
        accepted = validator_accepts(lambda v: data_config_members(v["targets"], v["features"], "d"), value)
        assert accepted == schema_accepts(schema, value), value


def test_models_and_series_state_their_required_keys() -> None:
    assert ModelInput.model_json_schema()["required"] == [
        "name",
        "ml_config",
        "data_config",
        "preprocessing_config",
    ]
    series = SeriesInput.model_json_schema()
    assert series["discriminator"] == {"propertyName": "source"}
    shapes = {shape["properties"]["source"]["const"]: shape for shape in series["oneOf"]}
    assert list(shapes) == list(PARAMS_MODELS)
    for source, shape in shapes.items():
        assert (
            shape["properties"]["params"]["properties"]
            == PARAMS_MODELS[source].model_json_schema()["properties"]
        )
        assert shape["required"] == ["name", "source", *(["params"] if source == "csv" else [])]
        assert shape["additionalProperties"] is False


def test_the_apply_document_states_its_five_sections_and_their_params() -> None:
    schema = ApplyDocument.model_json_schema()
    assert list(schema["properties"]) == [
        "series",
        "preprocessing_configs",
        "ml_configs",
        "data_configs",
        "models",
    ]
    assert schema["additionalProperties"] is False
    defs = schema["$defs"]
    shapes = [*(item for key, item in defs.items() if key != "SeriesInput"), *defs["SeriesInput"]["oneOf"]]
    assert all(shape["additionalProperties"] is False for shape in shapes)
    horizon = defs["PreprocessingConfigInput"]["properties"]["params"]["properties"]["horizon"]
    assert horizon["anyOf"][0]["maximum"] == MAX_HORIZON
    ml = defs["MLConfigInput"]["properties"]["params"]
    assert ml["properties"]["num_leaves"]["anyOf"][0] == {"type": "integer"}
    assert ml["additionalProperties"] is False


NAMES = [
    "a",
    "flu & tea",
    "ünïcode 名前",
    "<b>x</b>",
    "'; DROP TABLE x; --",
    "x" * NAME_LENGTH,
    "x" * (NAME_LENGTH + 1),
    "",
    " a",
    "a\nb",
    "a\tb",
    "a\x85b",
    "a\x00b",
    "a/b",
    "50%",
    ".",
    "..",
    "...",
    "update-all-values",
]


@pytest.mark.parametrize("name", NAMES)
def test_the_name_schema_states_the_one_rule_of_names(name: str) -> None:
    """(Not "a\\n": Python's ``$`` matches before a final newline, JSON Schema's does not.)"""
    assert validator_accepts(lambda n: validate_name("model", n), name) == schema_accepts(NAME_SCHEMA, name)
    assert ModelInput.model_json_schema()["properties"]["name"] == {**NAME_SCHEMA, "title": "Name"}


# Service settings ----------------------------------------------------------------------------


def test_the_settings_schema_states_the_bounds_from_env_enforces() -> None:
    schema = TypeAdapter(Settings).json_schema()
    timeout = schema["properties"]["request_timeout_s"]
    assert (timeout["exclusiveMinimum"], timeout["maximum"]) == (0, MAX_REQUEST_TIMEOUT_S)
    assert schema["properties"]["cache_ttl_s"]["minimum"] == 0
    assert schema["properties"]["max_body_bytes"]["minimum"] == 0
    with pytest.raises(ValidationError):
        Settings(database_url="sqlite://", request_timeout_s=MAX_REQUEST_TIMEOUT_S + 1)
    with pytest.raises(InvalidInput, match=r"^FORECASTING_REQUEST_TIMEOUT='241' must be a positive number"):
        Settings.from_env({"FORECASTING_REQUEST_TIMEOUT": "241"})
    with pytest.raises(InvalidInput, match=r"^FORECASTING_CACHE_TTL='-1' must not be negative$"):
        Settings.from_env({"FORECASTING_CACHE_TTL": "-1"})
    with pytest.raises(InvalidInput, match=r"^FORECASTING_MAX_BODY_BYTES='lots' is not a number$"):
        Settings.from_env({"FORECASTING_MAX_BODY_BYTES": "lots"})


def test_settings_read_every_variable_with_its_default() -> None:
    env = {
        "FORECASTING_DATABASE_URL": "sqlite:///x.db",
        "FORECASTING_API_TOKEN": "t",
        "FORECASTING_CACHE_TTL": "5",
        "FORECASTING_MAX_BODY_BYTES": "100",
        "FORECASTING_AIRFLOW_URL": "http://airflow:8080/",
        "FORECASTING_AIRFLOW_USERNAME": "u",
        "FORECASTING_AIRFLOW_PASSWORD": "p",
        "FORECASTING_AIRFLOW_UI_URL": "",
        "FORECASTING_REQUEST_TIMEOUT": "60",
        "FORECASTING_CSV_ROOTS": "/data",
    }
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.api_token, settings.cache_ttl_s) == ("sqlite:///x.db", "t", 5.0)
    assert (settings.max_body_bytes, settings.airflow_url, settings.airflow_ui_url) == (
        100,
        "http://airflow:8080",
        None,
    )
    assert settings.uses_airflow and settings.inline_budget_s == 48.0 and settings.csv_roots == "/data"
    defaults = Settings.from_env({"FORECASTING_DATABASE_URL": "sqlite:///x.db"})
    assert (defaults.api_token, defaults.cache_ttl_s, defaults.max_body_bytes) == (None, 30.0, 1024 * 1024)
    assert (defaults.request_timeout_s, defaults.airflow_url, defaults.csv_roots) == (30.0, None, None)


# Source params ----------------------------------------------------------------------------------


def source_schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    """As the document's readers judge: formats (a date) asserted too."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(schema, format_checker=checker).is_valid(value)


def test_each_source_states_its_params_bounds_and_unknown_keys() -> None:
    sample = SampleParams.model_json_schema()
    assert sample["additionalProperties"] is False and "required" not in sample
    number, text = sample["properties"]["periods"]["anyOf"]
    assert (number["type"], number["minimum"], number["maximum"]) == ("integer", 1, MAX_INTEGER)
    assert text["type"] == "string" and sample["properties"]["seed"]["anyOf"][0]["minimum"] == 0
    assert sample["properties"]["end"]["format"] == "date"
    csv = CsvParams.model_json_schema()
    assert csv["required"] == ["path"] and csv["additionalProperties"] is False
    fraction = csv["properties"]["less_than_one"]["anyOf"][0]
    assert (fraction["minimum"], fraction["exclusiveMaximum"]) == (0, 1)
    google = GoogleTrendsParams.model_json_schema()
    assert google["properties"]["gprop"]["enum"] == list(GPROPS)
    assert google["properties"]["cat"]["anyOf"][0]["minimum"] == 0
    assert UploadParams.model_json_schema()["properties"] == {}
    assert set(PARAMS_MODELS) == set(SOURCE_NAMES)


SOURCE_VALUES: list[tuple[type, dict[str, Any]]] = [
    (SampleParams, {}),
    (SampleParams, {"periods": 1, "seed": 0, "end": "2004-01-04"}),
    (SampleParams, {"periods": "12", "seed": "7", "end": "2199-12-31"}),
    (SampleParams, {"periods": 0}),
    (SampleParams, {"periods": MAX_INTEGER + 1}),
    (SampleParams, {"periods": "0"}),
    (SampleParams, {"periods": "1234567890123456789"}),
    (SampleParams, {"periods": "9" * 5000}),
    (SampleParams, {"seed": "-" + "9" * 5000}),
    (SampleParams, {"periods": "0" * 50 + "1"}),
    (SampleParams, {"seed": "0" * 30 + "1"}),
    (SampleParams, {"periods": 2.5}),
    (SampleParams, {"periods": True}),
    (SampleParams, {"periods": None}),
    (SampleParams, {"seed": -1}),
    (SampleParams, {"seed": " 7"}),
    (SampleParams, {"end": "2004-01-03"}),
    (SampleParams, {"end": "2200-01-01"}),
    (SampleParams, {"end": "2024-02-30"}),
    (SampleParams, {"end": "20240107"}),
    (SampleParams, {"end": 20240107}),
    (SampleParams, {"sed": 1}),
    (CsvParams, {"path": "a.csv"}),
    (CsvParams, {"path": "a.csv", "column": " tea ", "less_than_one": 0, "date_format": "%m/%d/%y"}),
    (CsvParams, {"path": "a.csv", "less_than_one": "0.25"}),
    (CsvParams, {"path": "a.csv", "less_than_one": ".5"}),
    (CsvParams, {}),
    (CsvParams, {"path": ""}),
    (CsvParams, {"path": "a\x00b"}),
    (CsvParams, {"path": 7}),
    (CsvParams, {"path": "a.csv", "column": " \x1c "}),
    (CsvParams, {"path": "a.csv", "column": ""}),
    (CsvParams, {"path": "a.csv", "less_than_one": 1}),
    (CsvParams, {"path": "a.csv", "less_than_one": -0.1}),
    (CsvParams, {"path": "a.csv", "less_than_one": "1e-1"}),
    (CsvParams, {"path": "a.csv", "less_than_one": "half"}),
    (CsvParams, {"path": "a.csv", "less_than_one": False}),
    (CsvParams, {"path": "a.csv", "date_format": "mm/dd/yy"}),
    (CsvParams, {"path": "a.csv", "sheet": 1}),
    (GoogleTrendsParams, {}),
    (GoogleTrendsParams, {"keyword": "pizza", "geo": "us-ca", "timeframe": "today 5-y", "cat": 71}),
    (GoogleTrendsParams, {"geo": "", "gprop": "news", "cat": "0"}),
    (GoogleTrendsParams, {"keyword": " "}),
    (GoogleTrendsParams, {"keyword": "\u3000"}),
    (GoogleTrendsParams, {"keyword": 7}),
    (GoogleTrendsParams, {"geo": "Germany!"}),
    (GoogleTrendsParams, {"geo": "U"}),
    (GoogleTrendsParams, {"geo": " US"}),
    (GoogleTrendsParams, {"timeframe": ""}),
    (GoogleTrendsParams, {"cat": -1}),
    (GoogleTrendsParams, {"cat": "food"}),
    (GoogleTrendsParams, {"gprop": "web"}),
    (GoogleTrendsParams, {"gprop": None}),
    (GoogleTrendsParams, {"kw": "pizza"}),
    (UploadParams, {}),
    (UploadParams, {"path": "/etc/passwd"}),
]


@pytest.mark.parametrize(("model", "params"), SOURCE_VALUES)
def test_a_source_validator_refuses_what_its_schema_refuses(model, params: dict[str, Any]) -> None:
    """One home: the schema and :func:`forecasting.sources.params.parse` (each validate_params' first
    step) agree on every value, and a refusal is one line naming the series and the param."""
    accepted = validator_accepts(lambda value: parse(model, "s", value), params)
    assert accepted == source_schema_accepts(model.model_json_schema(), params), params
    if not accepted:
        with pytest.raises(InvalidInput, match=r"^series 's': (param \w+|unknown param)") as refused:
            parse(model, "s", params)
        assert "\n" not in str(refused.value) and len(str(refused.value)) < 300


def test_sample_and_google_trends_validate_params_call_their_models() -> None:
    """The sources' validate_params normalise as before: defaults filled, texts converted, a Sunday."""
    sample = SampleSource().validate_params("s", {"periods": "12", "end": "2024-01-10"})
    assert sample == {"seed": zlib.crc32(b"s"), "periods": 12, "end": "2024-01-07"}
    with pytest.raises(InvalidInput, match="^series 's': param periods must be >= 1, got 0$"):
        SampleSource().validate_params("s", {"periods": 0})
    assert UploadSource().validate_params("s", {}) == {}
