"""Every REST body, query and answer of the service, declared once as a pydantic model.

Request models validate (strict types: ``"2"`` is not an integer, ``1`` not a boolean;
unknown keys are ignored) after :mod:`serving.jsonio` has parsed the body with the input
rules; :mod:`serving.apidoc` turns all of them into the OpenAPI document. Answer models
describe the JSON the domain builds (the views do not pass answers through them): their
field names are the public interface.

Names are checked by the one rule of the domain (:func:`forecasting.series.validate_name`,
shared with the CLI and ``apply``), which the schema states as a pattern.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, WithJsonSchema
from pydantic_core import ErrorDetails

from forecasting.config_inputs import NAME_SCHEMA, DataConfigMembers, MLConfigInput, PreprocessingInput
from forecasting.errors import shown
from forecasting.limits import DEFAULT_WINDOWS, MAX_WINDOWS
from forecasting.models import MAX_ID, MODEL_VERSION_STATUSES
from forecasting.series import validate_name
from forecasting.sources.params import CsvOptions, CsvParams, GoogleTrendsParams, SampleParams
from forecasting.sources.upload import UPLOAD_ROUTE
from serving.jsonio import error_message  # the generic wording, for errors located inside a source's branch

ID_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_ID,
    "description": "A database id (a larger one names no object: 404)",
}


STORABLE = r"^[^\u0000]*$"  # and no lone surrogate: what jsonio's parse refuses in any text of a body
Text = Annotated[str, WithJsonSchema({"type": "string", "pattern": STORABLE})]
JSON_VALUE = {"x-json-value": True}  # pydantic resolves no $ref of ours: apidoc makes it one to JsonValue
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON a body may hold: finite numbers, texts without NUL, nested at most 32 levels",
    "anyOf": [
        {"type": "string", "pattern": STORABLE},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": JSON_VALUE},
        {"type": "object", "propertyNames": {"pattern": STORABLE}, "additionalProperties": JSON_VALUE},
    ],
}
_ANY_KEYS: dict[str, Any] = {"propertyNames": {"pattern": STORABLE}, "additionalProperties": JSON_VALUE}
JsonObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object", **_ANY_KEYS})]


def _name(kind: str) -> Any:
    """A name of ``kind`` (series, model...) checked by the domain's rule, its message kept."""
    return Annotated[str, AfterValidator(lambda name: validate_name(kind, name)), WithJsonSchema(NAME_SCHEMA)]


SeriesName = _name("series")
ConfigName = _name("config")
ModelName = _name("model")
Figure = Annotated[
    float | None, Field(description="Rounded to 6 places; null for NaN and infinities (and when missing)")
]
DateTime = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 8601 date-time, UTC without offset",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}",
            "examples": ["2026-11-15T00:00:00"],
        }
    ),
]
Status = Literal[MODEL_VERSION_STATUSES]  # type: ignore[valid-type]


class Request(BaseModel):
    """A body or query: strict types, unknown keys ignored (the views read the fields they know)."""

    model_config = ConfigDict(strict=True, extra="ignore", json_schema_extra=_ANY_KEYS)
    example: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def message(cls, error: ErrorDetails) -> str | None:
        """A message of this model's own for ``error``, or None for the generic one."""
        return None


def _params(schema: dict[str, Any]) -> Any:
    """Params the domain validates (kept as written), documented by the domain's own schema of them."""
    return Annotated[dict[str, Any], WithJsonSchema(schema)]


_SOURCE_PARAMS = "The source's params, as its model in forecasting/sources/params.py states them"


class SampleSeries(Request):
    name: SeriesName
    source: Literal["sample"] = Field(description="Deterministic synthetic weekly values")
    params: _params(SampleParams.model_json_schema()) = Field(
        default_factory=dict, description=_SOURCE_PARAMS
    )


class CsvSeries(Request):
    name: SeriesName
    source: Literal["csv"] = Field(description="A CSV file under FORECASTING_CSV_ROOTS")
    params: _params(CsvParams.model_json_schema()) = Field(description=_SOURCE_PARAMS)


class GoogleTrendsSeries(Request):
    name: SeriesName
    source: Literal["google_trends"] = Field(description="Google Trends through pytrends")
    params: _params(GoogleTrendsParams.model_json_schema()) = Field(
        default_factory=dict, description=_SOURCE_PARAMS
    )


SERIES_BODIES: dict[str, type[Request]] = {
    "sample": SampleSeries,
    "csv": CsvSeries,
    "google_trends": GoogleTrendsSeries,
}


class CreateSeries(
    RootModel[Annotated[SampleSeries | CsvSeries | GoogleTrendsSeries, Field(discriminator="source")]]
):
    """A series to define, one shape per source (``source`` picks it); a series of source ``upload`` is
    created by its first upload instead, so this body does not take that source."""

    model_config = ConfigDict(strict=True)
    example: ClassVar = {"name": "sample-new", "source": "sample", "params": {"periods": 120}}

    @classmethod
    def message(cls, error: ErrorDetails) -> str | None:
        """The source named by what it must be; a branch's errors located from the body."""
        if error["type"] == "union_tag_not_found":
            return "missing field 'source'"
        if error["type"] == "union_tag_invalid":
            tag = error["ctx"]["tag"]
            if tag == "upload":
                return f"a series of source 'upload' is created by its first upload: {UPLOAD_ROUTE}"
            return f"unknown source {shown(tag)}; known sources: {', '.join(SERIES_BODIES)}"
        loc = error["loc"]
        if loc and loc[0] in SERIES_BODIES:
            return error_message(SERIES_BODIES[str(loc[0])], {**error, "loc": loc[1:]}, "field")
        return None


_CSV_OPTIONS = CsvOptions.model_json_schema()["properties"]


def _csv_option(key: str) -> Any:
    """A parsing option of the upload's query, documented by the csv source's own schema of it."""
    schema = {k: v for k, v in _CSV_OPTIONS[key].items() if k not in ("title", "default")}
    return Annotated[str | None, WithJsonSchema(schema)]


class UploadQuery(Request):
    """How to parse an uploaded CSV, as the csv source's params say; the domain's model of those
    params (:class:`forecasting.sources.params.CsvOptions`, shared with ``csv`` series) checks them,
    names the series in its messages and refuses unknown ones; its schema documents them here."""

    model_config = ConfigDict(strict=False, extra="allow")
    column: _csv_option("column") = None
    less_than_one: Annotated[float | None, WithJsonSchema(_CSV_OPTIONS["less_than_one"]["anyOf"][0])] = Field(
        None, description=_CSV_OPTIONS["less_than_one"]["description"]
    )
    date_format: _csv_option("date_format") = None


class CreateModelConfig(Request):
    name: ConfigName
    params: _params(MLConfigInput.model_json_schema()["properties"]["params"])
    example: ClassVar = {"name": "lgbm-tiny", "params": {"n_estimators": 20, "num_leaves": 7}}


class CreatePreprocessingConfig(Request):
    name: ConfigName
    params: _params(PreprocessingInput.model_json_schema())
    example: ClassVar = {"name": "weekly-4", "params": {"horizon": [1, 2, 3, 4], "target_lags": [1, 2, 52]}}


_MEMBERS = {
    key: {**schema, "items": {"type": "string", "pattern": STORABLE}}
    for key, schema in DataConfigMembers.model_json_schema()["properties"].items()
}


class CreateDataConfig(Request):
    """The members' rules (at least one target, none twice, none in both roles) are the domain's
    :class:`~forecasting.config_inputs.DataConfigMembers`; its schema documents them here."""

    name: ConfigName
    targets: Annotated[list[str], WithJsonSchema(_MEMBERS["targets"])]
    features: Annotated[list[str], WithJsonSchema(_MEMBERS["features"])] = Field(default_factory=list)
    example: ClassVar = {"name": "tea-only", "targets": ["sample-tea"], "features": ["sample-flu"]}


class CreateModel(Request):
    name: ModelName
    ml_config: Text
    data_config: Text
    preprocessing_config: Text
    example: ClassVar = {
        "name": "tea-forecast",
        "ml_config": "lgbm-small",
        "data_config": "sample-panel",
        "preprocessing_config": "weekly-12",
    }


class Train(Request):
    windows: int = Field(DEFAULT_WINDOWS, ge=0, le=MAX_WINDOWS, description="Backtest cut-offs, a week apart")
    gate: bool = Field(False, description="Store a version with backtest MASE >= 1 as rejected")
    example: ClassVar = {"windows": 1, "gate": False}


class HistoryRow(Request):
    series: Text
    time: Text = Field(description="A date text such as 2026-11-15, from 1900 to 2200")
    value: float


HISTORY_ROWS = "must be a non-empty list of {series, time, value} objects"


class WhatIf(Request):
    history: list[HistoryRow] = Field(
        min_length=1,
        description="Weekly values on the weeks of the model's data; they replace the stored values of the "
        "series they name",
    )
    example: ClassVar = {
        "history": [
            {"series": "sample-flu", "time": "2026-11-08", "value": 40.0},
            {"series": "sample-flu", "time": "2026-11-15", "value": 55.0},
        ]
    }

    @classmethod
    def message(cls, error: ErrorDetails) -> str | None:
        """The rows' messages as the domain words them for a what-if history (tests name them)."""
        loc = error["loc"]
        if loc[:1] != ("history",) or len(loc) == 1 and error["type"] != "too_short":
            return None
        if len(loc) == 3 and error["type"] == "missing":
            return f"history needs columns series, time, value; missing: {loc[2]}"
        if len(loc) == 3 and loc[2] in ("time", "value"):
            wanted = "a date text such as 2026-11-15" if loc[2] == "time" else "a finite number"
            return f"history has a bad time or value: {loc[2]} {shown(error['input'])} is not {wanted}"
        return f"field 'history' {HISTORY_ROWS}"


class BacktestQuery(Request):
    model_config = ConfigDict(strict=False, extra="ignore")
    version: int | None = Field(
        None,
        description="A version of the model (default: the served one)",
        json_schema_extra={"minimum": 0, "maximum": MAX_ID, "examples": [1]},
    )


# --- answers ---------------------------------------------------------------------------------------


class Error(BaseModel):
    error: str


class Series(BaseModel):
    id: int
    name: str
    source: str
    params: dict[str, Any]
    current_version_id: int | None
    n_values: int
    first_time: DateTime | None
    last_time: DateTime | None
    n_versions: int
    synthetic: bool = Field(description="The source makes synthetic data")


class RefreshResult(BaseModel):
    series: str
    outcome: Literal["created", "appended", "new_version", "unchanged", "error"]
    version_id: int | None
    rows_added: int
    error: str | None


class SeriesWithRefresh(Series):
    refresh: RefreshResult


class RefreshReport(BaseModel):
    results: list[RefreshResult]
    errors: int


class RefreshFailed(BaseModel):
    error: str
    results: list[RefreshResult] | None = None
    errors: int | None = None


class SeriesVersion(BaseModel):
    id: int
    created_at: DateTime
    expired: bool
    n_values: int


class Value(BaseModel):
    time: DateTime
    value: float


class SeriesValues(BaseModel):
    series: str
    version_id: int
    values: list[Value]


class ParamsConfig(BaseModel):
    name: str
    params: dict[str, Any]
    created_at: DateTime
    n_models: int = Field(description="Models using it (a used config cannot be deleted)")


class DataConfig(BaseModel):
    name: str
    created_at: DateTime
    targets: list[str]
    features: list[str]


class Model(BaseModel):
    name: str
    ml_config: str
    data_config: str
    preprocessing_config: str
    served_version: int | None
    served_created_at: DateTime | None
    mase: Figure
    n_versions: int


class ModelVersion(BaseModel):
    id: int
    created_at: DateTime
    status: Status
    served: bool
    mase: Figure
    rows: int | None
    data_versions: dict[str, int] | None
    reason: str | None


class TrainResult(BaseModel):
    model: str
    version_id: int
    status: Status
    reason: str | None
    rows: int
    data_versions: dict[str, int]
    mase: Figure
    timings: dict[str, float]


class TrainingRunning(Error):
    running_version: int | None = Field(description="The version being trained")
    since: DateTime | None = Field(description="When that training started")


class ForecastRow(BaseModel):
    series: str
    last_date: DateTime
    last_value: Figure
    horizon: int
    target_date: DateTime
    prediction: Figure
    predicted_delta: Figure
    lower: Figure
    upper: Figure


class Forecast(BaseModel):
    model: str
    model_version: int
    model_created_at: DateTime
    data_versions: dict[str, int | None] = Field(
        description="Current data version per series; null for series supplied in a what-if"
    )
    trained_on_data_versions: dict[str, int] | None
    interval_level: Figure
    forecasts: list[ForecastRow]


class Backtest(BaseModel):
    model: str
    model_version: int
    status: Status
    backtest: dict[str, Any] | None = Field(
        description="The backtest summary; null when trained with windows=0"
    )


class DagRun(BaseModel):
    dag_id: str
    dag_run_id: str
    state: str | None
    conf: dict[str, Any]
    url: str = Field(description="The run in Airflow's UI")


class Alive(BaseModel):
    status: Literal["ok"]


class ModelServed(BaseModel):
    model: str
    served_version: int | None
    mase: Figure


class Held(BaseModel):
    model_version: int
    newest_ready_version: int
    forecast_from: str | None
    age_s: float | None = Field(
        description="Seconds since this worker checked the model against the database; null when a check "
        "is due at the next request (e.g. this worker has just trained it)"
    )


class RefusedVersion(BaseModel):
    model: str
    version: int
    reason: str


class Worker(BaseModel):
    held: dict[str, Held]
    refused_versions: list[RefusedVersion]


class Ready(BaseModel):
    status: Literal["ready"]
    models: list[ModelServed]
    worker: Worker
