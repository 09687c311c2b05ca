"""``/openapi.json``: the OpenAPI 3.1 description of every route of the service.

Built from small helpers (JSON error answers, the ``name`` path parameter, bearer
security on writes) so the document stays as readable as the routes it describes;
``tests/test_openapi.py`` checks it against ``app.url_map`` and runs schemathesis on it.
The ``example`` values name the objects of ``examples/sample.yaml`` so that a fuzzer
reaches real series, configs and models, not only 404s.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, jsonify

from forecasting.limits import DEFAULT_WINDOWS, MAX_CSV_BYTES, MAX_WINDOWS
from forecasting.models import MAX_ID, MODEL_VERSION_STATUSES, NAME_LENGTH
from forecasting.series import ROUTE_WORDS

bp = Blueprint("openapi", __name__)

Schema = dict[str, Any]

ERRORS = {
    400: (
        "Invalid input: a bad body (not JSON, nested deeper than 32 levels, a number that is not finite, "
        "a text with a NUL character or a lone surrogate), field, parameter or name; the message says which"
    ),
    401: "Missing or wrong `Authorization: Bearer <FORECASTING_API_TOKEN>`",
    403: "Writes are disabled: the service has no FORECASTING_API_TOKEN",
    404: "Unknown object (or the object has no data / no ready version yet)",
    409: "Conflict: the name exists already, or the object is in use",
    413: "Request body larger than FORECASTING_MAX_BODY_BYTES (chunked bodies included)",
    415: "The body is not of the media type the operation takes",
    502: "An upstream failed: the data source's download, or Airflow's API",
    503: "The database is unreachable or not migrated, or a model version cannot be loaded",
}
WRITE_ERRORS = (401, 403, 413)  # 413: any body over the limit, read or not
DAG_RUN_NOTE = "With FORECASTING_AIRFLOW_URL configured, the work is handed to an Airflow DAG run instead."


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or JSON null (3.1 style: a type list, or ``anyOf`` for a ``$ref``)."""
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, **extra: Any) -> Schema:
    """An object whose ``required`` properties are always present; extra keys allowed unless said."""
    schema: Schema = {"type": "object", "properties": {**required, **(optional or {})}, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def map_of(values: Schema) -> Schema:
    return {"type": "object", "additionalProperties": values}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}
ID: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID, "description": "A database id"}
NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": NAME_LENGTH,
    "pattern": "^[^/%\\u0000-\\u001f\\u007f-\\u009f]+$",
    "description": (
        "Stored verbatim (quotes, markup, spaces, any script) if a URL can address it: no '/', '%' or "
        "control character, no NUL or lone surrogate, not '.' or '..', no leading or trailing "
        f"whitespace, and not a fixed word of the URLs ({', '.join(sorted(ROUTE_WORDS))})"
    ),
}
DATETIME = ref("DateTime")
DATE_INPUT: Schema = {
    "type": "string",
    "description": "A date or date-time pandas can parse",
    "examples": ["2026-11-15"],
}
FIGURE = nullable(NUMBER)  # rounded to 6 places; NaN and infinities are reported as null

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": STRING}),
    "DateTime": {
        "type": "string",
        "description": "ISO 8601 date-time, UTC without offset",
        "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}",
        "examples": ["2026-11-15T00:00:00"],
    },
    "Series": obj(
        {
            "id": INTEGER,
            "name": STRING,
            "source": STRING,
            "params": OBJECT,
            "current_version_id": nullable(INTEGER),
            "n_values": INTEGER,
            "first_time": nullable(DATETIME),
            "last_time": nullable(DATETIME),
            "n_versions": INTEGER,
            "synthetic": {"type": "boolean", "description": "The source makes synthetic data"},
        }
    ),
    "RefreshResult": obj(
        {
            "series": STRING,
            "outcome": {"enum": ["created", "appended", "new_version", "unchanged", "error"]},
            "version_id": nullable(INTEGER),
            "rows_added": INTEGER,
            "error": nullable(STRING),
        }
    ),
    "RefreshReport": obj({"results": array(ref("RefreshResult")), "errors": INTEGER}),
    "SeriesVersion": obj({"id": INTEGER, "created_at": DATETIME, "expired": BOOLEAN, "n_values": INTEGER}),
    "SeriesValues": obj(
        {
            "series": STRING,
            "version_id": INTEGER,
            "values": array(obj({"time": DATETIME, "value": NUMBER})),
        }
    ),
    "ParamsConfig": obj(
        {
            "name": STRING,
            "params": OBJECT,
            "created_at": DATETIME,
            "n_models": {
                "type": "integer",
                "description": "Models using it (a used config cannot be deleted)",
            },
        }
    ),
    "DataConfig": obj(
        {"name": STRING, "created_at": DATETIME, "targets": array(STRING), "features": array(STRING)}
    ),
    "Model": obj(
        {
            "name": STRING,
            "ml_config": STRING,
            "data_config": STRING,
            "preprocessing_config": STRING,
            "served_version": nullable(INTEGER),
            "served_created_at": nullable(DATETIME),
            "mase": FIGURE,
            "n_versions": INTEGER,
        }
    ),
    "ModelVersion": obj(
        {
            "id": INTEGER,
            "created_at": DATETIME,
            "status": {"enum": list(MODEL_VERSION_STATUSES)},
            "served": BOOLEAN,
            "mase": FIGURE,
            "rows": nullable(INTEGER),
            "data_versions": nullable(map_of(INTEGER)),
            "reason": nullable(STRING),
        }
    ),
    "TrainResult": obj(
        {
            "model": STRING,
            "version_id": INTEGER,
            "status": {"enum": list(MODEL_VERSION_STATUSES)},
            "reason": nullable(STRING),
            "rows": INTEGER,
            "data_versions": map_of(INTEGER),
            "mase": FIGURE,
            "timings": map_of(NUMBER),
        }
    ),
    "Forecast": obj(
        {
            "model": STRING,
            "model_version": INTEGER,
            "model_created_at": DATETIME,
            "data_versions": {
                **map_of(nullable(INTEGER)),
                "description": "Current data version per series; null for series supplied in a what-if",
            },
            "trained_on_data_versions": nullable(map_of(INTEGER)),
            "interval_level": FIGURE,
            "forecasts": array(
                obj(
                    {
                        "series": STRING,
                        "last_date": DATETIME,
                        "last_value": FIGURE,
                        "horizon": INTEGER,
                        "target_date": DATETIME,
                        "prediction": FIGURE,
                        "predicted_delta": FIGURE,
                        "lower": FIGURE,
                        "upper": FIGURE,
                    }
                )
            ),
        }
    ),
    "Backtest": obj(
        {
            "model": STRING,
            "model_version": INTEGER,
            "status": {"enum": list(MODEL_VERSION_STATUSES)},
            "backtest": nullable(
                {**OBJECT, "description": "The backtest summary; null when trained with windows=0"}
            ),
        }
    ),
    "DagRun": obj(
        {
            "dag_id": STRING,
            "dag_run_id": STRING,
            "state": nullable(STRING),
            "conf": OBJECT,
            "url": {"type": "string", "description": "The run in Airflow's UI"},
        }
    ),
}


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def answer(description: str, schema: Schema | None = None, media: str = "application/json") -> dict[str, Any]:
    """A response; ``schema`` None means no body (204)."""
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {media: {"schema": schema}}}


def name_param(example: str, what: str) -> dict[str, Any]:
    """``{name}``: a name as the name rule allows (one holding a NUL character answers 400)."""
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": f"The {what}'s name",
        "schema": NAME,
        "example": example,
    }


def operation(
    summary: str,
    ok: dict[int, dict[str, Any]],
    errors: tuple[int, ...] = (),
    *,
    param: dict[str, Any] | None = None,
    body: Schema | None = None,
    example: dict[str, Any] | None = None,
    body_required: bool = True,
    write: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One operation: success responses, the JSON errors it can answer, and bearer security on writes."""
    codes = set(errors) | (set(WRITE_ERRORS) if write else set())
    if body is not None:
        codes |= {400, 413}
    if param is not None:
        codes.add(400)  # a name in the URL that no name can be (a NUL character)
    spec: dict[str, Any] = {"summary": summary, **extra}
    if param is not None:
        spec["parameters"] = [param, *spec.get("parameters", [])]
    if body is not None:
        # The handlers read the fields they know and ignore any others.
        media: dict[str, Any] = {"schema": {**body, "additionalProperties": True}}
        if example is not None:
            media["example"] = example
        spec["requestBody"] = {"required": body_required, "content": {"application/json": media}}
    spec["responses"] = {
        **{str(code): response for code, response in sorted(ok.items())},
        **{str(code): answer(ERRORS[code], ref("Error")) for code in sorted(codes)},
    }
    spec["security"] = [{"bearer": []}] if write else []
    return spec


def _series_paths() -> dict[str, Any]:
    series = name_param("sample-tea", "series")
    refresh_ok = {
        200: answer(
            "The series was downloaded (per-series outcomes; some may have failed)", ref("RefreshReport")
        ),
        202: answer(DAG_RUN_NOTE, ref("DagRun")),
    }
    refresh_failed = answer(
        "Every download failed (with the per-series outcomes), or Airflow failed",
        obj({"error": STRING}, {"results": array(ref("RefreshResult")), "errors": INTEGER}),
    )
    create_body = obj(
        {
            "name": NAME,
            "source": {
                **STRING,
                "description": "The downloader: sample, csv (a file under FORECASTING_CSV_ROOTS) or "
                "google_trends; series of source upload are created by their first upload",
            },
        },
        {"params": {**OBJECT, "description": "The source's options (default {})"}},
    )
    created = {
        "allOf": [ref("Series"), obj({"refresh": ref("RefreshResult")})],
    }
    return {
        "/api/timeseries": {
            "get": operation(
                "List every series", {200: answer("Every series", array(ref("Series")))}, (503,)
            ),
            "post": operation(
                "Define a series and download its first version (nothing is kept if the download fails)",
                {201: answer("The new series with its first download", created)},
                (409, 502, 503),
                body=create_body,
                example={"name": "sample-new", "source": "sample", "params": {"periods": 120}},
                write=True,
            ),
        },
        "/api/timeseries/{name}": {
            "get": operation(
                "One series", {200: answer("The series", ref("Series"))}, (404, 503), param=series
            ),
            "delete": operation(
                "Delete a series with all its versions",
                {204: answer("Deleted")},
                (404, 409, 503),
                param=series,
                write=True,
            ),
        },
        "/api/timeseries/{name}/latest-values": {
            "get": operation(
                "The values of the series' current version",
                {200: answer("The values", ref("SeriesValues"))},
                (404, 503),
                param=series,
            )
        },
        "/api/timeseries/{name}/versions": {
            "get": operation(
                "Every version of the series, oldest first",
                {200: answer("The versions", array(ref("SeriesVersion")))},
                (404, 503),
                param=series,
            )
        },
        "/api/timeseries/{name}/versions/{version_id}/values": {
            "get": operation(
                "The values of one version of the series",
                {200: answer("The values", ref("SeriesValues"))},
                (404, 503),
                param=series,
                parameters=[
                    {
                        "name": "version_id",
                        "in": "path",
                        "required": True,
                        "schema": ID,
                        "example": 2,
                    }
                ],
            )
        },
        "/api/timeseries/{name}/upload": {"post": _upload_operation()},
        "/api/timeseries/{name}/update-values": {
            "post": operation(
                f"Download the series again and store what changed. {DAG_RUN_NOTE}",
                {**refresh_ok, 502: refresh_failed},
                (401, 403, 404, 503),
                param=series,
                write=True,
            )
        },
        "/api/timeseries/update-all-values": {
            "post": operation(
                f"Download every series again and store what changed. {DAG_RUN_NOTE}",
                {**refresh_ok, 502: refresh_failed},
                (401, 403, 503),
                write=True,
            )
        },
    }


def _upload_operation() -> dict[str, Any]:
    """A CSV sent as the body: stored as the series' new download; the first upload creates the series."""
    stored = {"allOf": [ref("Series"), obj({"refresh": ref("RefreshResult")})]}
    spec = operation(
        "Store the CSV body as the series' new download, with version detection (an appended past keeps "
        "the version, a changed past makes a new one); the first upload creates the series, of source "
        "upload, which a refresh leaves as it is. Parsed as the csv source parses a file.",
        {
            200: answer("Stored: the series with the upload's outcome", stored),
            201: answer("The series was created by this upload", stored),
        },
        (400, 409, 413, 415, 503),
        param=name_param("uploaded-clicks", "series"),
        write=True,
        parameters=[
            {
                "name": "column",
                "in": "query",
                "required": False,
                "description": "The value column, by its header or its Google search term",
                "schema": {**STRING, "minLength": 1},
            },
            {
                "name": "less_than_one",
                "in": "query",
                "required": False,
                "description": "The value read for Google's '<1'",
                "schema": {**NUMBER, "minimum": 0, "exclusiveMaximum": 1, "default": 0.5},
            },
            {
                "name": "date_format",
                "in": "query",
                "required": False,
                "description": "A strptime layout of the dates (default: YYYY-MM-DD or YYYY-MM)",
                "schema": {**STRING, "pattern": "%"},
            },
        ],
    )
    spec["requestBody"] = {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {**STRING, "maxLength": MAX_CSV_BYTES},
                "example": "time,value\n2026-11-08,40\n2026-11-15,55\n",
            }
        },
    }
    return spec


def _config_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    kinds = {
        "model-config": ("ML config (LGBMRegressor keyword arguments)", "lgbm-small", ref("ParamsConfig")),
        "preprocessing-config": ("preprocessing config", "weekly-12", ref("ParamsConfig")),
        "data-config": ("data config", "sample-panel", ref("DataConfig")),
    }
    bodies = {
        "model-config": (
            obj({"name": NAME, "params": OBJECT}),
            {"name": "lgbm-tiny", "params": {"n_estimators": 20, "num_leaves": 7}},
        ),
        "preprocessing-config": (
            obj({"name": NAME, "params": OBJECT}),
            {"name": "weekly-4", "params": {"horizon": [1, 2, 3, 4], "target_lags": [1, 2, 52]}},
        ),
        "data-config": (
            obj({"name": NAME, "targets": array(STRING)}, {"features": array(STRING)}),
            {"name": "tea-only", "targets": ["sample-tea"], "features": ["sample-flu"]},
        ),
    }
    for resource, (what, example, schema) in kinds.items():
        body, body_example = bodies[resource]
        param = name_param(example, what.split(" (")[0])
        paths[f"/api/{resource}"] = {
            "get": operation(f"List every {what}", {200: answer("All of them", array(schema))}, (503,)),
            "post": operation(
                f"Create a {what} (validated as `forecasting apply` does)",
                {201: answer("The new config", schema)},
                (404, 409, 503),
                body=body,
                example=body_example,
                write=True,
            ),
        }
        paths[f"/api/{resource}/{{name}}"] = {
            "get": operation(f"One {what}", {200: answer("The config", schema)}, (404, 503), param=param),
            "delete": operation(
                f"Delete a {what} (refused while a model uses it)",
                {204: answer("Deleted")},
                (404, 409, 503),
                param=param,
                write=True,
            ),
        }
    return paths


def _model_paths() -> dict[str, Any]:
    model = name_param("sample-forecast", "model")
    forecast_errors = (404, 409, 503)
    return {
        "/api/model": {
            "get": operation(
                "List every model with its served version and that version's MASE",
                {200: answer("Every model", array(ref("Model")))},
                (503,),
            ),
            "post": operation(
                "Create a model from three configs (by name)",
                {201: answer("The new model", ref("Model"))},
                (404, 409, 503),
                body=obj(
                    {"name": NAME, "ml_config": STRING, "data_config": STRING, "preprocessing_config": STRING}
                ),
                example={
                    "name": "tea-forecast",
                    "ml_config": "lgbm-small",
                    "data_config": "sample-panel",
                    "preprocessing_config": "weekly-12",
                },
                write=True,
            ),
        },
        "/api/model/{name}": {
            "get": operation("One model", {200: answer("The model", ref("Model"))}, (404, 503), param=model),
            "delete": operation(
                "Delete a model and all its versions",
                {204: answer("Deleted")},
                (404, 409, 503),
                param=model,
                write=True,
            ),
        },
        "/api/model/{name}/train": {
            "post": operation(
                f"Backtest, fit and register a new version. {DAG_RUN_NOTE}",
                {
                    201: answer("The registered version (ready, failed or rejected)", ref("TrainResult")),
                    202: answer(DAG_RUN_NOTE, ref("DagRun")),
                },
                (404, 409, 502, 503),
                param=model,
                body=obj(
                    {},
                    {
                        "windows": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_WINDOWS,
                            "default": DEFAULT_WINDOWS,
                        },
                        "gate": {
                            "type": "boolean",
                            "default": False,
                            "description": "Store a version with backtest MASE >= 1 as rejected",
                        },
                    },
                ),
                example={"windows": 1, "gate": False},
                body_required=False,
                write=True,
            )
        },
        "/api/model/{name}/predict": {
            "get": operation(
                "The served version's forecast on the current data (cached per version and data)",
                {
                    200: {
                        **answer("The forecast", ref("Forecast")),
                        "headers": {"X-Model-Version": {"schema": INTEGER, "required": True}},
                    }
                },
                forecast_errors,
                param=model,
            ),
            "post": operation(
                "A what-if forecast: the supplied history replaces the stored values of the series it names",
                {200: answer("The forecast; supplied series have data version null", ref("Forecast"))},
                forecast_errors,
                param=model,
                body=obj(
                    {
                        "history": {
                            **array(obj({"series": STRING, "time": DATE_INPUT, "value": NUMBER})),
                            "minItems": 1,
                        }
                    }
                ),
                example={
                    "history": [
                        {"series": "sample-flu", "time": "2026-11-08", "value": 40.0},
                        {"series": "sample-flu", "time": "2026-11-15", "value": 55.0},
                    ]
                },
                write=True,
            ),
        },
        "/api/model/{name}/versions": {
            "get": operation(
                "Every version of the model, newest first",
                {200: answer("The versions", array(ref("ModelVersion")))},
                (404, 503),
                param=model,
            )
        },
        "/api/model/{name}/backtest": {
            "get": operation(
                "The backtest recorded with the served version (or with `?version=N`)",
                {200: answer("The backtest", ref("Backtest"))},
                (400, 404, 503),
                param=model,
                parameters=[
                    {"name": "version", "in": "query", "required": False, "schema": ID, "example": 1}
                ],
            )
        },
    }


def _service_paths() -> dict[str, Any]:
    held = obj(
        {
            "model_version": INTEGER,
            "newest_ready_version": INTEGER,
            "forecast_from": nullable(STRING),
            "age_s": {
                **nullable(NUMBER),
                "description": "Seconds since this worker checked the model against the database; "
                "null when a check is due at the next request (e.g. this worker has just trained it)",
            },
        }
    )
    refused = obj({"model": STRING, "version": INTEGER, "reason": STRING})
    ready = obj(
        {
            "status": {"const": "ready"},
            "models": array(obj({"model": STRING, "served_version": nullable(INTEGER), "mase": FIGURE})),
            "worker": obj({"held": map_of(held), "refused_versions": array(refused)}),
        }
    )
    html = {"text/html": {"schema": STRING}}
    return {
        "/healthz": {
            "get": operation(
                "Liveness: the process answers", {200: answer("Alive", obj({"status": {"const": "ok"}}))}
            )
        },
        "/readyz": {
            "get": operation(
                "Readiness: the database is reachable and migrated; what each model serves",
                {200: answer("Ready", ready)},
                (503,),
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics: request latency by route, served model version per model",
                {200: answer("Prometheus text exposition", STRING, "text/plain")},
            )
        },
        "/openapi.json": {
            "get": operation("This document", {200: answer("The OpenAPI document", OBJECT)}),
        },
        "/": {
            "get": operation(
                "The forecast pages' index: every model",
                {200: answer("HTML page", STRING, "text/html")},
                (503,),
            ),
        },
        "/models/{name}": {
            "get": operation(
                "A model's forecast page",
                {
                    200: answer("HTML page", STRING, "text/html"),
                    404: {
                        "description": ERRORS[404],
                        "content": {**json_content(ref("Error")), **html},
                    },
                },
                (409, 503),
                param=name_param("sample-forecast", "model"),
            )
        },
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once per process; it depends on no request)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Forecasting service",
            "version": "1.0.0",
            "description": (
                "Google Trends series with version history, their configs, LightGBM models and "
                "their forecasts. Reads are open; every write (POST, DELETE under /api) needs "
                "`Authorization: Bearer <token>` with the service's FORECASTING_API_TOKEN "
                '(403 when the service has none). Errors are JSON `{"error": "..."}`. '
                "Dates are ISO 8601 strings."
            ),
        },
        "paths": {**_service_paths(), **_series_paths(), **_config_paths(), **_model_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The service's FORECASTING_API_TOKEN",
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
