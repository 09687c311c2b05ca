"""Every config a user gives, declared once as a pydantic model: the rules, their messages, their schema.

The validators of :mod:`forecasting.configs` and :mod:`forecasting.apply` (used by the CLI,
``apply``, the service and the DAGs) are thin calls into these models, and
``model_json_schema()`` states the same rules (bounds, types, required and unknown keys) for
the service's OpenAPI document. The ML params model is built from LightGBM's own parameter
table (:func:`forecasting.lightgbm_params.params_model`), so it lives with that table.

Types are strict (``"3"`` is not an integer, ``1`` not a boolean) and unknown keys are
refused. :func:`parse` turns pydantic's errors into one short :class:`InvalidInput` naming
the config and the key; values are quoted through :func:`forecasting.errors.shown`.
Names go through :func:`forecasting.series.validate_name` and JSON-like params through
:func:`forecasting.inputs.check_json`, so every path keeps one rule for each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from forecasting.errors import InvalidInput, listed, shown
from forecasting.inputs import check_json, check_text
from forecasting.models import NAME_LENGTH
from forecasting.series import ROUTE_WORDS, validate_name

MAX_LAG = 1000
MAX_HORIZON = 520
_NAME_CHAR = r"[^/%\s\u0000-\u001f\u007f-\u009f]"  # \s: str.strip()'s whitespace, which may not end a name
# validate_name's rule as a JSON schema (save lone surrogates, which no JSON Schema pattern can test).
NAME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": NAME_LENGTH,
    "pattern": f"^{_NAME_CHAR}(?:[^/%\\u0000-\\u001f\\u007f-\\u009f]*{_NAME_CHAR})?$",
    "not": {"enum": sorted({".", "..", *ROUTE_WORDS})},
    "description": (
        "Stored verbatim (quotes, markup, spaces inside, any script) if a URL can address it: no '/', '%' "
        "or control character, no NUL or lone surrogate, not '.' or '..', no leading or trailing "
        f"whitespace, and not a fixed word of the URLs ({', '.join(sorted(ROUTE_WORDS))})"
    ),
}
RULE = "rule"  # the error type of the rules below that pydantic cannot state: their message is the text


def broken(message: str) -> PydanticCustomError:
    """A rule's error carrying its own message (a validator's ``InvalidInput`` or a check below)."""
    return PydanticCustomError(RULE, "{message}", {"message": message})


def _refusing(check: Callable[[str, Any], Any]) -> AfterValidator:
    """``check(key, value)`` as an after-validator: its InvalidInput becomes a located pydantic error."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            check(info.field_name or "value", value)
        except InvalidInput as exc:
            raise broken(str(exc)) from None
        return value

    return AfterValidator(validate)


def Name(kind: str) -> Any:  # noqa: N802 - used as a type
    """A name of ``kind`` (series, model...): the one rule of names, stated by :data:`NAME_SCHEMA`."""
    return Annotated[
        str, _refusing(lambda _key, name: validate_name(kind, name)), WithJsonSchema(NAME_SCHEMA)
    ]


Text = Annotated[str, _refusing(lambda key, text: check_text(f"{key}: the text", text))]
JsonParams = Annotated[dict[str, Any], _refusing(lambda key, params: check_json(key, params))]


def _twice(items: Sequence[Any]) -> list[Any]:
    """The items that occur more than once, each named once, in order."""
    return [item for item, count in Counter(items).items() if count > 1]


def _distinct(key: str, phrase: str = "has duplicates") -> AfterValidator:
    def validate(items: list[Any]) -> list[Any]:
        if len(set(items)) != len(items):
            raise broken(f"{key} {phrase}: {listed(_twice(items))}")
        return items

    return AfterValidator(validate)


class Input(BaseModel):
    """A config as given: strict types, unknown keys refused, errors worded by :meth:`problem`.

    ``rules`` words what a key must be ("hold integers from 1 to 520"), ``shapes`` what it
    must be when its container is wrong ("be a list of integers"); both default to the key's
    type as pydantic words it.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    rules: ClassVar[dict[str, str]] = {}
    shapes: ClassVar[dict[str, str]] = {}

    @classmethod
    def keys(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def problem(cls, errors: list[ErrorDetails], root: str = "") -> str:
        """One short message for pydantic's ``errors`` (their locations relative to this model);
        ``root`` names the whole value (e.g. "params") when it is not a mapping."""
        unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            return f"unknown key{plural} {listed(map(repr, unknown))}; known: {', '.join(cls.keys())}"
        missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and len(e["loc"]) == 1]
        if missing:
            return f"missing key{'s' if len(missing) > 1 else ''} {listed(map(repr, missing))}"
        # A union reports each of its branches: the one that got furthest says what is wrong.
        error = min(errors, key=lambda e: (e["type"].endswith("_type"), -len(e["loc"])))
        if error["type"] == RULE:
            return error["msg"]
        if not error["loc"]:
            whole = f"{root} must" if root else "must"
            return f"{whole} be a mapping with keys {', '.join(cls.keys())}, got {shown(error['input'])}"
        key = str(error["loc"][0])
        if "[key]" in error["loc"]:
            return f"{key} keys must be texts, got {shown(error['input'])}"
        if error["type"] == "too_short":
            return f"{key} must not be an empty list"
        outer = not any(isinstance(part, int) for part in error["loc"])  # the key's value, not an item of it
        rule = (cls.shapes if outer and key in cls.shapes else cls.rules).get(key)
        return f"{key} must {rule}, got {shown(error['input'])}" if rule else f"{key}: {error['msg']}"


M = TypeVar("M", bound=Input)


def parse(model: type[M], value: Any, config: str, root: str = "") -> M:
    """``value`` validated by ``model``; else InvalidInput ``"<config>: <problem>"``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(f"{config}: {model.problem(exc.errors(), root)}") from None


# Preprocessing params -----------------------------------------------------------------

Horizon = Annotated[int, Field(ge=1, le=MAX_HORIZON)]
Lag = Annotated[int, Field(ge=1, le=MAX_LAG)]
_UNIQUE = {"uniqueItems": True}


class PreprocessingInput(Input):
    """Preprocessing params (DESIGN.md, Features); ``configs.preprocessing_params`` reads them."""

    horizon: (
        Horizon
        | Annotated[list[Horizon], Field(min_length=1, json_schema_extra=_UNIQUE), _distinct("horizon")]
    ) = Field(description="Weeks ahead: one (an integer) or several (a list, one model for all)")
    target_lags: Annotated[list[Lag], _distinct("target_lags"), Field(json_schema_extra=_UNIQUE)] = Field(
        default_factory=list, description="Weeks back of each target used as features"
    )
    feature_lags: Annotated[list[Lag], _distinct("feature_lags"), Field(json_schema_extra=_UNIQUE)] = Field(
        default_factory=list, description="Weeks back of each feature series used as features"
    )
    include_lag_0: bool = Field(
        False, description="Add lag 0 (the value at the forecast origin) to each lag list"
    )
    horizons_per_origin: Annotated[int, Field(ge=1, le=MAX_HORIZON)] | None = Field(
        None, description="Train each origin on this many of the horizons (at most their number); default all"
    )

    rules: ClassVar = {
        "horizon": f"hold integers from 1 to {MAX_HORIZON}",
        "target_lags": f"hold integers from 1 to {MAX_LAG}",
        "feature_lags": f"hold integers from 1 to {MAX_LAG}",
        "include_lag_0": "be true or false",
        "horizons_per_origin": "be an integer from 1 to the number of horizons",
    }
    shapes: ClassVar = {"target_lags": "be a list of integers", "feature_lags": "be a list of integers"}

    @property
    def horizons(self) -> list[int]:
        return self.horizon if isinstance(self.horizon, list) else [self.horizon]

    @model_validator(mode="after")
    def _consistent(self) -> PreprocessingInput:
        if not self.target_lags and not self.feature_lags:
            raise broken("target_lags and feature_lags cannot both be empty")
        per_origin = self.horizons_per_origin
        count = len(self.horizons)
        if per_origin is not None and per_origin > count:
            raise broken(f"horizons_per_origin must be an integer from 1 to {count}, got {shown(per_origin)}")
        return self


# Data configs and models ----------------------------------------------------------------


class DataConfigMembers(Input):
    """The series of a data config: at least one target, no series twice, none in both roles."""

    targets: Annotated[
        list[Text],
        Field(min_length=1, json_schema_extra=_UNIQUE),
        _distinct("targets", "lists a series twice"),
    ] = Field(description="Series names: the targets of the models using it")
    features: Annotated[
        list[Text], Field(json_schema_extra=_UNIQUE), _distinct("features", "lists a series twice")
    ] = Field(default_factory=list, description="Series names: extra regressors")

    rules: ClassVar = {"targets": "hold series names", "features": "hold series names"}
    shapes: ClassVar = {"targets": "be a list of series names", "features": "be a list of series names"}

    @model_validator(mode="after")
    def _one_role_each(self) -> DataConfigMembers:
        both = sorted(set(self.targets) & set(self.features))
        if both:
            raise broken(f"series cannot be both target and feature: {listed(both)}")
        return self

    def roles(self) -> dict[str, str]:
        """Series name → role."""
        return {**dict.fromkeys(self.targets, "target"), **dict.fromkeys(self.features, "feature")}


class DataConfigInput(DataConfigMembers):
    name: Name("data config")
    rules: ClassVar = {**DataConfigMembers.rules, "name": "be a text"}


class ModelInput(Input):
    """A model: its name and the names of its three configs."""

    name: Name("model")
    ml_config: Text
    data_config: Text
    preprocessing_config: Text

    rules: ClassVar = {
        "name": "be a text",
        "ml_config": "be the name of a ml config",
        "data_config": "be the name of a data config",
        "preprocessing_config": "be the name of a preprocessing config",
    }


def _series_schema(schema: dict[str, Any]) -> None:
    """A series' schema as one shape per source, ``source`` the discriminator: each states its
    params by the source's own model (:mod:`forecasting.sources.params`)."""
    from forecasting.sources.params import PARAMS_MODELS

    base = dict(schema)
    schema.clear()
    schema["title"] = base["title"]
    schema["description"] = base["description"]
    schema["oneOf"] = []
    for source, model in PARAMS_MODELS.items():
        params = model.model_json_schema()
        schema["oneOf"].append(
            {
                **{key: value for key, value in base.items() if key not in ("title", "description")},
                "title": f"{source} series",
                "properties": {
                    **base["properties"],
                    "source": {"const": source, "type": "string"},
                    "params": {**params, "description": "The source's params"},
                },
                "required": [*base["required"], *(["params"] if params.get("required") else [])],
            }
        )
    schema["discriminator"] = {"propertyName": "source"}


class SeriesInput(Input):
    """A series definition; its params are the source's own, validated by the source's model."""

    model_config = ConfigDict(json_schema_extra=_series_schema)
    name: Name("series")
    source: Text = Field(description="The downloader: sample, csv, google_trends or upload")
    params: JsonParams = Field(default_factory=dict, description="The source's options")

    rules: ClassVar = {"name": "be a text", "source": "be a text", "params": "be a mapping of key: value"}


class _LazyMLParamsSchema:
    """The ML params' JSON schema, read from LightGBM's table only when a schema is asked for."""

    @classmethod
    def __get_pydantic_json_schema__(cls, _core_schema: Any, _handler: Any) -> dict[str, Any]:
        from forecasting.lightgbm_params import params_model

        return params_model().model_json_schema()


class _ParamsItem(Input):
    rules: ClassVar = {"name": "be a text", "params": "be a mapping of key: value"}


class PreprocessingConfigInput(_ParamsItem):
    """A preprocessing config; ``params`` are validated by :class:`PreprocessingInput` (kept as written)."""

    name: Name("preprocessing config")
    params: Annotated[JsonParams, WithJsonSchema(PreprocessingInput.model_json_schema())]


class MLConfigInput(_ParamsItem):
    """An ML config; ``params`` are validated by LightGBM's table and a tiny fit (kept as written)."""

    name: Name("ml config")
    params: Annotated[JsonParams, _LazyMLParamsSchema]


class ApplyDocument(Input):
    """The document of ``forecasting apply``: five sections, each a list of items, written in this order."""

    series: list[SeriesInput] = Field(default_factory=list)
    preprocessing_configs: list[PreprocessingConfigInput] = Field(default_factory=list)
    ml_configs: list[MLConfigInput] = Field(default_factory=list)
    data_configs: list[DataConfigInput] = Field(default_factory=list)
    models: list[ModelInput] = Field(default_factory=list)

    @classmethod
    def located(cls, errors: list[ErrorDetails], document: Any) -> str:
        """The first error, located as ``models[1] ('flu'): <problem>`` within ``document``."""
        known = ", ".join(cls.keys())
        unknown = [e for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
        if unknown:
            return f"unknown section {shown(unknown[0]['loc'][0])}; known sections: {known}"
        loc = errors[0]["loc"]
        if not loc:
            got = type(errors[0]["input"]).__name__
            return f"the document must be a mapping with sections {known}, got {got}"
        section = str(loc[0])
        if len(loc) == 1:
            return f"{section} must be a list of items (write [] for none), got {shown(errors[0]['input'])}"
        index = int(loc[1])
        inner = [{**e, "loc": e["loc"][2:]} for e in errors if e["loc"][:2] == loc[:2]]
        return f"{where(section, index, document[section][index])}: {SECTION_ITEMS[section].problem(inner)}"


SECTION_ITEMS: dict[str, type[Input]] = {
    "series": SeriesInput,
    "preprocessing_configs": PreprocessingConfigInput,
    "ml_configs": MLConfigInput,
    "data_configs": DataConfigInput,
    "models": ModelInput,
}


def parse_document(document: Any, origin: str = "") -> ApplyDocument:
    """The apply document validated; else InvalidInput ``"<origin><section>[i] ('name'): <problem>"``."""
    try:
        return ApplyDocument.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(f"{origin}{ApplyDocument.located(exc.errors(), document)}") from None


def where(section: str, index: int, entry: Any) -> str:
    """How messages name an item of the apply document: ``models[1] ('flu')``."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{section}[{index}] ({shown(name)})" if isinstance(name, str) else f"{section}[{index}]"
