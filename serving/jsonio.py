"""JSON in and out: ISO dates, NumPy scalars as numbers, strict JSON only, request inputs checked once.

Every request body is parsed here (:func:`body`) with the rules of
:mod:`forecasting.inputs`: nested at most ``MAX_DEPTH`` levels, finite numbers only, no NUL
character or lone surrogate in any text; then its model of :mod:`serving.schemas` validates it
(:func:`validated`), and a refusal is one short message naming the field. Every answer is
strict JSON: the provider refuses NaN and the infinities rather than write them (Python's
default writes ``NaN``, which no JSON parser but Python's reads).
"""

from __future__ import annotations

import io
import json
import math
from datetime import date
from typing import Any, TypeVar

import numpy as np
from flask import request
from flask.json.provider import DefaultJSONProvider
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from werkzeug.exceptions import RequestEntityTooLarge

from forecasting.errors import InvalidInput, cut, shown
from forecasting.inputs import check_json, check_text, too_deep

BODY = "the request body"
M = TypeVar("M", bound=BaseModel)


class JSONProvider(DefaultJSONProvider):
    """Flask's provider with ISO 8601 dates (not HTTP dates), keys in the order built, and no NaN."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, np.generic):
            return o.item()
        return DefaultJSONProvider.default(o)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)


def body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what was wrong with it."""
    raw = request.get_data(cache=True)
    if not raw:
        raise InvalidInput("the request needs a JSON object body")
    payload = parse(raw)
    if not isinstance(payload, dict):
        raise InvalidInput(f"the request body must be a JSON object, not {_json_type(payload)}")
    return payload


def parse(raw: bytes) -> Any:
    """A JSON document that keeps to :func:`forecasting.inputs.check_json`."""
    try:
        payload = json.loads(raw, parse_constant=_non_finite, parse_float=_finite)
    except RecursionError:
        raise too_deep(BODY) from None
    except ValueError:  # a syntax error, or bytes that are not UTF-8
        raise InvalidInput(f"{BODY} is not valid JSON") from None
    return check_json(BODY, payload)


def _non_finite(constant: str) -> float:
    raise InvalidInput(f"{BODY} has {constant}, which is not a finite number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidInput(f"{BODY} has {shown(text)}, which is not a finite number (too large for a double)")
    return number


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string"}.get(type(value), "a number")


def refuse_oversize_body() -> None:
    """``before_request`` hook: 413 for a body over the limit, even one the route would not read.

    A chunked body has no Content-Length: it is read here, up to one byte past the limit,
    so that every route (the ones that never read their body too) sees it bounded.
    """
    limit = request.max_content_length
    if limit is None:
        return
    size = request.content_length
    if size is None and request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise _too_large(f"more than {limit}", limit)
        request.environ["wsgi.input"] = io.BytesIO(data)
    elif (size or 0) > limit:
        raise _too_large(str(size), limit)


def _too_large(size: str, limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"the request body is {size} bytes; this service accepts at most {limit} (FORECASTING_MAX_BODY_BYTES)"
    )


def refuse_unstorable_path() -> None:
    """``before_request`` hook of the app: a name in the URL holds only text a name can hold."""
    for key, value in (request.view_args or {}).items():
        if isinstance(value, str):
            check_text(f"the URL's {key}", value)


def optional_body() -> dict[str, Any]:
    """Like :func:`body`, but an empty body is an empty object."""
    return body() if request.get_data(cache=True) else {}


# pydantic's error types, as the Python type the field must have
_TYPES = {
    "string_type": "str",
    "int_type": "int",
    "int_parsing": "an integer",
    "int_from_float": "int",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "bool",
    "bool_parsing": "a boolean",
    "dict_type": "dict",
    "list_type": "list",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def validated(model: type[M], data: dict[str, Any], where: str = "field") -> M:
    """``data`` as ``model``, or InvalidInput naming the first field that is wrong (``where``:
    "field" for a body, "query parameter" for a query string)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        custom = getattr(model, "message", None)
        raise InvalidInput((custom and custom(error)) or error_message(model, error, where)) from None


def _bounds(model: type[BaseModel], name: str) -> str:
    """``"0 and 104"``: the ``ge``/``le`` bounds of a top-level field."""
    field = model.model_fields.get(name)
    found = {type(m).__name__: m for m in (field.metadata if field else [])}
    return f"{getattr(found.get('Ge'), 'ge', '-inf')} and {getattr(found.get('Le'), 'le', 'inf')}"


def error_message(model: type[BaseModel], error: ErrorDetails, where: str) -> str:
    """One short line: the field's path, what it must be, and the value cut short (never the whole input)."""
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{cut(str(part))}" for part in error["loc"])
    path = path.lstrip(".")
    kind = error["type"]
    if kind == "missing":
        return f"missing {where} {path!r}"
    got = f", got {shown(error['input'])}"
    if kind in _TYPES:
        return f"{where} {path!r} must be {_TYPES[kind]}{got}"
    if kind in ("greater_than_equal", "less_than_equal") and len(error["loc"]) == 1:
        return f"{where} {path!r} must be between {_bounds(model, path)}{got}"
    return f"{where} {path!r}: {error['msg'][:1].lower()}{error['msg'][1:]}{got}"
