"""The OpenAPI 3.1 document, generated from the routes and the models of :mod:`serving.schemas`.

A view declares its operation once with :func:`operation`: the summary, its answers, the
errors it can give, its body and query models and whether it writes. The decorator
validates the body and the query through those models (the view receives them as
``payload`` and ``query``), and :func:`document` walks ``app.url_map`` and builds each
path from the same declaration, its schemas from ``model_json_schema()``: what is
validated and what is documented cannot drift apart. A small generator of our own rather
than flask-openapi3 or spectree: those build the app their way (their own app class or
request objects), and spectree's UI loads from a CDN.

``/docs`` is Swagger UI from the flask-swagger-ui package's files, served from here: the
page loads nothing from another host.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from pydantic import BaseModel

from forecasting.limits import MAX_CSV_BYTES
from serving import schemas
from serving.jsonio import body, optional_body, validated

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"
SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"

ERRORS = {
    400: (
        "Invalid input: a bad body (not JSON, nested deeper than 32 levels, a number that is not finite, "
        "a text with a NUL character or a lone surrogate), field, parameter or name; the message says which"
    ),
    401: "Missing or wrong `Authorization: Bearer <FORECASTING_API_TOKEN>`",
    403: "Writes are disabled: the service has no FORECASTING_API_TOKEN",
    404: (
        "Unknown object (or the object has no data / no ready version yet), or a csv series' path naming no "
        "file inside FORECASTING_CSV_ROOTS (or none set)"
    ),
    409: "Conflict: the name exists already, or the object is in use",
    413: "Request body larger than FORECASTING_MAX_BODY_BYTES (chunked bodies included)",
    415: "The body is not of the media type the operation takes",
    502: "An upstream failed: the data source's download, or Airflow's API",
    503: "The database is unreachable or not migrated, or a model version cannot be loaded",
    504: (
        "Inline work would not finish within FORECASTING_REQUEST_TIMEOUT: long work belongs to Airflow "
        "(FORECASTING_AIRFLOW_URL) or the CLI"
    ),
}
WRITE_ERRORS = (401, 403, 413)  # 413: any body over the limit, read or not
DAG_RUN_NOTE = "With FORECASTING_AIRFLOW_URL configured, the work is handed to an Airflow DAG run instead."

bp = Blueprint(
    "apidoc",
    __name__,
    template_folder="templates",
    static_folder=str(SWAGGER_UI),
    static_url_path="/docs/static",
)


@dataclass(frozen=True)
class Answer:
    """One response: ``schema`` a model, ``[model]`` for an array of it, a JSON schema, or None (no body)."""

    description: str
    schema: Any = None
    media: str = "application/json"
    headers: Schema | None = None
    html_too: bool = False  # a page's error: JSON for a client that asks for it, else HTML


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: dict[int, Answer]
    errors: tuple[int, ...] = ()
    body: type[schemas.Request] | None = None
    body_required: bool = True
    raw_body: Schema | None = None  # a body that is not JSON: its ``content`` object
    query: type[schemas.Request] | None = None
    name: tuple[str, str] | None = None  # the ``<name>`` of the path: what it names, an example
    examples: dict[str, Any] = field(default_factory=dict)  # of other path parameters
    write: bool = False


def operation(summary: str, answers: dict[int, Answer], errors: tuple[int, ...] = (), **options: Any):
    """Declare a view's operation; validate its body (``payload``) and query (``query``) by their models."""
    spec = Operation(summary, answers, errors, **options)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if spec.query is not None:
                kwargs["query"] = validated(spec.query, request.args.to_dict(), "query parameter")
            if spec.body is not None:
                kwargs["payload"] = validated(spec.body, body() if spec.body_required else optional_body())
            return view(*args, **kwargs)

        checked.operation = spec  # type: ignore[attr-defined]
        return checked

    return decorate


HTML = Answer("HTML page", {"type": "string"}, "text/html")
OTHERS = {  # routes of modules that declare no operation themselves (pages render HTML from the domain)
    "pages.index": Operation("The forecast pages' index: every model", {200: HTML}, (503,)),
    "pages.model": Operation(
        "A model's forecast page",
        {200: HTML, 404: Answer(ERRORS[404], schemas.Error, html_too=True)},
        (409, 503),
        name=("model", "sample-forecast"),
    ),
}


class _Components:
    """The document's ``components.schemas``, filled as operations name models."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {"JsonValue": _json_value_refs(schemas.JSON_VALUE_SCHEMA)}

    def ref(self, model: type[BaseModel]) -> Schema:
        if model.__name__ not in self.schemas:
            schema = _json_value_refs(model.model_json_schema(ref_template=REF))
            self.schemas.update(schema.pop("$defs", {}))
            self.schemas[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}

    def schema(self, declared: Any) -> Schema:
        if isinstance(declared, type) and issubclass(declared, BaseModel):
            return self.ref(declared)
        if isinstance(declared, list):
            return {"type": "array", "items": self.schema(declared[0])}
        return declared


def _json_value_refs(schema: Any) -> Any:
    """``schema`` with each :data:`schemas.JSON_VALUE` placeholder made a ``$ref`` to JsonValue."""
    if schema == schemas.JSON_VALUE:
        return {"$ref": REF.format(model="JsonValue")}
    if isinstance(schema, dict):
        return {key: _json_value_refs(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_json_value_refs(value) for value in schema]
    return schema


def _error(components: _Components, code: int) -> Schema:
    return {
        "description": ERRORS[code],
        "content": {"application/json": {"schema": components.ref(schemas.Error)}},
    }


def _query_parameters(model: type[BaseModel]) -> list[Schema]:
    """One query parameter per field; an optional one's schema is its value's, without null."""
    document = model.model_json_schema()
    parameters = []
    for key, prop in document["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
        description = prop.pop("description", None)
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        schema = {**(branches[0] if branches else {}), **prop}
        parameter = {
            "name": key,
            "in": "query",
            "required": key in document.get("required", []),
            "schema": schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _path_parameters(rule: str, spec: Operation) -> list[Schema]:
    parameters = []
    for converter, key in re.findall(r"<(?:([^:<>]+):)?([^<>]+)>", rule):
        if converter == "int":
            schema, description = schemas.ID_SCHEMA, "A database id"
        else:
            what, example = spec.name or ("object", "x")
            schema, description = schemas.NAME_SCHEMA, f"The {what}'s name"
            spec = Operation(**{**spec.__dict__, "examples": {key: example, **spec.examples}})
        parameter = {
            "name": key,
            "in": "path",
            "required": True,
            "description": description,
            "schema": schema,
        }
        if key in spec.examples:
            parameter["example"] = spec.examples[key]
        parameters.append(parameter)
    return parameters


def _operation(components: _Components, rule: str, spec: Operation) -> Schema:
    """The OpenAPI operation of one declaration; the error codes follow from what it takes."""
    parameters = _path_parameters(rule, spec)
    codes = set(spec.errors) | (set(WRITE_ERRORS) if spec.write else set())
    if parameters:
        codes.add(400)  # a name in the URL that no name can be (a NUL character)
    if spec.query is not None:
        parameters += _query_parameters(spec.query)
        codes.add(400)
    document: Schema = {"summary": spec.summary}
    if parameters:
        document["parameters"] = parameters
    if spec.body is not None:
        media: Schema = {"schema": components.ref(spec.body)}
        if spec.body.example is not None:
            media["example"] = spec.body.example
        document["requestBody"] = {"required": spec.body_required, "content": {"application/json": media}}
        codes |= {400, 413}
    if spec.raw_body is not None:
        document["requestBody"] = {"required": True, "content": spec.raw_body}
        codes |= {400, 413}
    responses: Schema = {}
    for code, answer in spec.answers.items():
        response: Schema = {"description": answer.description}
        if answer.schema is not None:
            response["content"] = {answer.media: {"schema": components.schema(answer.schema)}}
            if answer.html_too:
                response["content"]["text/html"] = {"schema": {"type": "string"}}
        if answer.headers:
            response["headers"] = answer.headers
        responses[str(code)] = response
    for code in codes - set(spec.answers):
        responses[str(code)] = _error(components, code)
    document["responses"] = dict(sorted(responses.items()))
    document["security"] = [{"bearer": []}] if spec.write else []
    return document


def build(app: Flask) -> Schema:
    """The document of ``app``: every routed method, as its view declares it."""
    components = _Components()
    paths: dict[str, Schema] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        view = app.view_functions[rule.endpoint]
        spec = getattr(view, "operation", None) or OTHERS.get(rule.endpoint)
        if spec is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) declares no operation")
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(components, rule.rule, spec)
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
                "Dates are ISO 8601 strings. Interactive page: /docs."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The service's FORECASTING_API_TOKEN",
                }
            },
        },
    }


def document() -> Schema:
    """The current app's document, built once (it depends on no request)."""
    documents = current_app.extensions.setdefault("openapi", {})
    if "document" not in documents:
        documents["document"] = build(current_app)
    return documents["document"]


CSV_BODY = {
    "text/csv": {
        "schema": {"type": "string", "maxLength": MAX_CSV_BYTES},
        "example": "time,value\n2026-11-08,40\n2026-11-15,55\n",
    }
}


@bp.get("/openapi.json")
@operation("This document", {200: Answer("The OpenAPI document", {"type": "object"})})
def openapi_json():
    return jsonify(document())


@bp.get("/docs")
@operation("Swagger UI on this document (its files served by this service)", {200: HTML})
def docs():
    return render_template("docs.html")
