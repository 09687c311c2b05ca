"""JSON in and out: ISO dates, NumPy scalars as numbers, strict JSON only, request inputs checked once.

Every request body is parsed here (:func:`body`) with the rules of
:mod:`forecasting.inputs`: nested at most ``MAX_DEPTH`` levels, finite numbers only, no NUL
character or lone surrogate in any text. Every answer is strict JSON: the provider refuses
NaN and the infinities rather than write them (Python's default writes ``NaN``, which no
JSON parser but Python's reads).
"""

from __future__ import annotations

import io
import json
import math
from datetime import date
from typing import Any

import numpy as np
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from forecasting.errors import InvalidInput, shown
from forecasting.inputs import check_json, check_text, too_deep

BODY = "the request body"


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


def field(payload: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    """``payload[key]`` of type ``kind``; missing is an error unless a default is given."""
    if key not in payload:
        if default is ...:
            raise InvalidInput(f"missing field {key!r}")
        return default
    value = payload[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise InvalidInput(f"field {key!r} must be {names}, got {shown(value)}")
    return value
