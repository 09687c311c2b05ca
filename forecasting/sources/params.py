"""Each source's params, declared once as a pydantic model: the rules, their messages, their schema.

A source's ``validate_params`` is a thin call into its model (:func:`parse`), and
``model_json_schema()`` states the same rules for the service's OpenAPI document and the
``apply`` document's schema. Params come as JSON (a REST body, a YAML file) or as text
(the CLI's ``--param key=value``): a number may be given as its text, which the schema
states as a second, patterned branch, and the validator tests text by the same pattern.

What a schema cannot state stays in the source: whether a CSV file exists inside the
roots and what its header holds (:class:`forecasting.sources.csv_file.CsvSource`).
This module imports no source, so the schemas load without pytrends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from forecasting.errors import InvalidInput, listed, shown

MAX_INTEGER = 10**18 - 1  # what every store holds as a JSON number, and 18 digits as text
ORIGIN = date(2004, 1, 4)  # the first Sunday of Google Trends' history: the sample's first week
GPROPS = ("", "images", "news", "youtube", "froogle")
# str.strip()'s whitespace, spelled out: a JSON Schema pattern's \s is ECMAScript's, another set.
_SPACE = r"\t-\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK = f"^[^\\u0000]*[^\\u0000{_SPACE}][^\\u0000]*$"  # a text with a visible character, no NUL
STORABLE = "^[^\\u0000]*$"
_NATURAL = "^[0-9]{1,18}$"  # an integer >= 0 as text
_POSITIVE = "^0*[1-9][0-9]{0,17}$"  # an integer >= 1 as text
_FRACTION = r"^(0(\.[0-9]*)?|\.[0-9]+)$"  # a number in [0, 1) as text, e.g. 0.25
_GEO = "^[A-Za-z]{2}(-[A-Za-z0-9]+)*$"
LAST_END = date(2199, 12, 31)  # past it, pandas cannot hold the weeks (and no forecast reaches it)
_MONTH_DAY = "(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_DAY_OF_MONTH = "(0[1-9]|[12][0-9]|3[01])"
# A YYYY-MM-DD day from ORIGIN (2004-01-04) to LAST_END: what the sample's end may be.
_DAY = (
    f"^((200[5-9]|20[1-9][0-9]|21[0-9][0-9])-{_MONTH_DAY}"
    f"|2004-(0[2-9]|1[0-2])-{_DAY_OF_MONTH}|2004-01-(0[4-9]|[12][0-9]|3[01]))$"
)
RULE = "param"  # the error type of every rule below: its message is the text after "param <key>"


def _refused(message: str) -> PydanticCustomError:
    return PydanticCustomError(RULE, "{message}", {"message": message})


def _matches(pattern: str, text: str) -> bool:
    """Whether ``text`` matches a JSON Schema ``pattern`` (anchored; its classes read alike in Python)."""
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text, flags=re.ASCII) is not None


def _integer(minimum: int, text_pattern: str, description: str) -> Any:
    """An integer from ``minimum`` to :data:`MAX_INTEGER`, or its decimal text (from the CLI)."""

    def check(raw: Any) -> int:
        if isinstance(raw, str) and _matches("^-?[0-9]+$", raw):
            sign, digits = ("-", raw[1:]) if raw.startswith("-") else ("", raw)
            # 19 significant digits are out of bounds already: a longer text is never converted whole.
            value = int(sign + (digits.lstrip("0") or "0")[:19])
        elif isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            raise _refused(f"={shown(raw)} is not an integer")
        if value < minimum:
            raise _refused(f" must be >= {minimum}, got {shown(raw)}")
        if value > MAX_INTEGER or isinstance(raw, str) and not _matches(text_pattern, raw):
            raise _refused(f" must be at most {MAX_INTEGER}, written in at most 18 digits, got {shown(raw)}")
        return value

    schema = {
        "description": description,
        "anyOf": [
            {"type": "integer", "minimum": minimum, "maximum": MAX_INTEGER},
            {"type": "string", "pattern": text_pattern, "description": "The same integer as text"},
        ],
    }
    return Annotated[int, BeforeValidator(check), WithJsonSchema(schema)]


def _text(pattern: str, problem: str, description: str, strip: bool = True) -> Any:
    """A text matching ``pattern`` (stripped if ``strip``); ``problem`` says what else it must be."""

    def check(raw: Any) -> str:
        if not isinstance(raw, str) or not _matches(pattern, raw):
            raise _refused(f"={shown(raw)} {problem}")
        return raw.strip() if strip else raw

    return Annotated[
        str,
        BeforeValidator(check),
        WithJsonSchema({"type": "string", "pattern": pattern, "description": description}),
    ]


class SourceParams(BaseModel):
    """A source's params: unknown keys refused, each key's rule worded by its validator."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: ClassVar[str]


P = TypeVar("P", bound=SourceParams)


def parse(model: type[P], series: str, params: Mapping[str, Any]) -> P:
    """``params`` validated by ``model``; else InvalidInput ``"series '<name>': <problem>"``."""
    if not isinstance(params, Mapping):
        raise InvalidInput(
            f"series {shown(series)}: params must be a mapping of key: value, got {shown(params)}"
        )
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise InvalidInput(f"series {shown(series)}: {problem(model, exc)}") from None


def problem(model: type[SourceParams], exc: ValidationError) -> str:
    """One short message for ``model``'s errors: unknown params, a missing one, or the first rule broken."""
    errors = exc.errors(include_url=False)
    known = sorted(field.alias or name for name, field in model.model_fields.items())
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        names = ", ".join(known) or "none"
        return f"unknown param(s) {listed(unknown)} for source {model.source!r}; known: {names}"
    error = errors[0]
    key = str(error["loc"][0]) if error["loc"] else "params"
    if error["type"] == "missing":
        return f"param {key} is required for source {model.source!r}"
    if error["type"] == RULE:
        return f"param {key}{error['msg']}"
    return f"param {key}: {error['msg']}, got {shown(error['input'])}"


# sample ---------------------------------------------------------------------------------------


def week_start(raw: Any) -> date:
    """The Sunday starting the week of the day ``raw`` (a YYYY-MM-DD text, on or after :data:`ORIGIN`)."""
    if not isinstance(raw, str) or not _matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", raw):
        raise _refused(f"={shown(raw)} is not a YYYY-MM-DD date")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise _refused(f"={shown(raw)} is not a YYYY-MM-DD date") from None
    if not ORIGIN <= day <= LAST_END:
        raise _refused(f" must be from {ORIGIN} to {LAST_END}, got {shown(raw)}")
    return day - timedelta(days=(day.weekday() + 1) % 7)


_END = {
    "type": "string",
    "format": "date",
    "pattern": _DAY,
    "description": f"A day of the last week (YYYY-MM-DD, from {ORIGIN} to {LAST_END}); default: the last "
    "complete week",
}


class SampleParams(SourceParams):
    source: ClassVar[str] = "sample"
    seed: _integer(0, _NATURAL, "The random seed; default: a hash of the series' name") = None
    periods: _integer(1, _POSITIVE, "How many weeks, ending at end") = 260
    end: Annotated[str, BeforeValidator(lambda raw: week_start(raw).isoformat()), WithJsonSchema(_END)] = None


# csv ------------------------------------------------------------------------------------------


def _fraction(raw: Any) -> float:
    """A number >= 0 and < 1, or its decimal text (from the CLI or a query string)."""
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise _refused(f"={shown(raw)} is not a number") from None
        if 0 <= value < 1 and not _matches(_FRACTION, raw):
            raise _refused(f"={shown(raw)} must be written as a decimal such as 0.25")
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    else:
        raise _refused(f"={shown(raw)} is not a number")
    if not 0 <= value < 1:
        raise _refused(f" must be >= 0 and < 1, got {shown(value)}")
    return value


_LESS_THAN_ONE = {
    "description": "The value read for Google's '<1' (default 0.5, the midpoint of [0, 1))",
    "anyOf": [
        {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        {"type": "string", "pattern": _FRACTION, "description": "The same number as text"},
    ],
}


class CsvOptions(SourceParams):
    """How CSV content is parsed, whether it comes from a file (csv) or an upload."""

    source: ClassVar[str] = "upload"
    column: _text(
        NON_BLANK, "must be a non-empty text", "The value column: its header, or the search term"
    ) = None
    less_than_one: Annotated[float, BeforeValidator(_fraction), WithJsonSchema(_LESS_THAN_ONE)] = 0.5
    date_format: _text(
        "^[^\\u0000]*%[^\\u0000]*$",
        "has no % directive (e.g. %m/%d/%y)",
        "A strptime layout of the dates (default: YYYY-MM-DD or YYYY-MM)",
        strip=False,
    ) = None


class CsvParams(CsvOptions):
    source: ClassVar[str] = "csv"
    path: _text(
        "^[^\\u0000]+$",
        "must be a non-empty text",
        "A file inside FORECASTING_CSV_ROOTS (a relative path starts at the first directory); a path "
        "outside them, or no file there, is an unknown reference (404)",
        strip=False,
    )


# google_trends --------------------------------------------------------------------------------


def _geo(raw: Any) -> str:
    if not isinstance(raw, str) or not (raw == "" or _matches(_GEO, raw)):
        raise _refused(f"={shown(raw)} is not a region code such as 'US' or 'US-CA'")
    return raw.upper()


def _gprop(raw: Any) -> str:
    if raw not in GPROPS or not isinstance(raw, str):
        raise _refused(f"={shown(raw)} must be one of {', '.join(map(repr, GPROPS))}")
    return raw


class GoogleTrendsParams(SourceParams):
    source: ClassVar[str] = "google_trends"
    keyword: _text(NON_BLANK, "must be a non-empty text", "The search term; default: the series' name") = None
    geo: Annotated[
        str,
        BeforeValidator(_geo),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": f"^$|{_GEO}",
                "description": "A region code such as US or US-CA ('' for worldwide); default: the "
                "connection's",
            }
        ),
    ] = None
    timeframe: _text(
        NON_BLANK,
        "must be a non-empty text",
        "Google's window, e.g. 'today 5-y' or '2022-01-01 today'; default: the connection's",
    ) = None
    cat: _integer(0, _NATURAL, "Google's category number (0: all)") = 0
    gprop: Annotated[
        str,
        BeforeValidator(_gprop),
        WithJsonSchema({"enum": list(GPROPS), "description": "Google property ('' for web search)"}),
    ] = ""


class UploadParams(SourceParams):
    """None: how an upload is parsed is said with each upload."""

    source: ClassVar[str] = "upload"


PARAMS_MODELS: dict[str, type[SourceParams]] = {
    "sample": SampleParams,
    "csv": CsvParams,
    "google_trends": GoogleTrendsParams,
    "upload": UploadParams,
}
