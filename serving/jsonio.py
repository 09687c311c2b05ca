"""JSON in and out: ISO dates, NumPy scalars as numbers, request bodies checked once."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from forecasting.errors import InvalidInput


class JSONProvider(DefaultJSONProvider):
    """Flask's provider with ISO 8601 dates (not HTTP dates) and keys in the order built."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, np.generic):
            return o.item()
        return DefaultJSONProvider.default(o)


def body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what was wrong with it."""
    if not request.data:
        raise InvalidInput("the request needs a JSON object body")
    try:
        payload = request.get_json(force=True)
    except BadRequest:
        raise InvalidInput("the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput(f"the request body must be a JSON object, not {_json_type(payload)}")
    return payload


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string"}.get(type(value), "a number")


def refuse_oversize_body() -> None:
    """``before_request`` hook: 413 for a body over the limit, even one the route would not read."""
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(
            f"the request body is {request.content_length} bytes; this service accepts at most {limit} "
            "(FORECASTING_MAX_BODY_BYTES)"
        )


def optional_body() -> dict[str, Any]:
    """Like :func:`body`, but an empty body is an empty object."""
    return body() if request.data else {}


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
        raise InvalidInput(f"field {key!r} must be {names}, got {value!r}")
    return value
