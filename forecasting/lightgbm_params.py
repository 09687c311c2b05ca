"""What LightGBM accepts as parameters, asked of LightGBM itself, and a guard for its Fatal line.

LightGBM lists its parameters with their aliases (``LGBM_DumpParamAliases``). It keeps a
table of their types too, which it exposes only through ``LGBM_BoosterGetLoadedParam``:
that call converts each parameter of a loaded model text by the table, so a model whose
every parameter reads ``0.5`` comes back with 0 (int), 0.5 (double), false (bool), "0.5"
(string) or a list (vector). Both are read once per process and become the ML params
schema (:func:`params_model`, a pydantic model like the other config inputs of
:mod:`forecasting.config_inputs`), so the accepted names and types follow the installed
LightGBM rather than a list kept by hand.

LightGBM's C++ core writes ``[LightGBM] [Fatal] <message>`` straight to file descriptor 2
before it raises the same message as an exception, whatever logger is registered.
:func:`quiet_fatal` holds that line back, so only our own error reaches a terminal or a
task log.

Imported only where LightGBM is needed (``forecasting --help`` must not load it).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import lightgbm
import numpy as np
from lightgbm.basic import _ConfigAliases
from pydantic import Field, ValidationError, create_model, model_validator
from pydantic_core import ErrorDetails

from forecasting.config_inputs import RULE, Input, broken
from forecasting.errors import LIST_LIMIT, QUOTE_LIMIT, InvalidInput, cut, shown

# Parameters of LightGBM's command-line program and of distributed training: they make
# LightGBM read or write files, or listen and connect on the network, on the machine that
# trains. A config can arrive over the REST API, and LGBMRegressor on one machine has no use
# for them, so they are refused.
HOST_PARAMETERS = frozenset(
    {
        "config",
        "data",
        "valid",
        "input_model",
        "output_model",
        "output_result",
        "convert_model",
        "forcedsplits_filename",
        "forcedbins_filename",
        "parser_config_file",
        "machine_list_filename",
        "machines",
        "num_machines",
        "local_listen_port",
        "time_out",
    }
)

# Parameters that give one value per feature column, in column order: their length must
# be the number of columns the model is fitted on.
PER_FEATURE_PARAMETERS = (
    "monotone_constraints",
    "feature_contri",
    "max_bin_by_feature",
    "cegb_penalty_feature_lazy",
    "cegb_penalty_feature_coupled",
)

FATAL_PREFIX = b"[LightGBM] [Fatal]"
_FD2_LOCK = threading.RLock()


def check(params: Mapping[str, Any], n_features: int | None = None) -> None:
    """Raise :class:`InvalidInput` saying what LightGBM would refuse in ``params``, or ignore.

    First the schema (:func:`params_model`): names (unknown ones, with the closest known
    name), parameters refused here, types, one name per parameter; then per-feature lengths
    (against ``n_features`` if given) and a tiny quiet fit for the ranges and combinations
    only LightGBM knows.
    """
    try:
        params_model().model_validate(dict(params) if isinstance(params, Mapping) else params)
    except ValidationError as exc:
        raise InvalidInput(_problem(exc.errors(), params)) from None
    _check_fit(params, _feature_count(params, n_features))


class MLParamsInput(Input):
    """ML params, the keyword arguments of ``LGBMRegressor``: one field per name LightGBM accepts
    (built by :func:`params_model`), and a parameter given once."""

    @model_validator(mode="before")
    @classmethod
    def _one_name_per_parameter(cls, params: Any) -> Any:
        if not isinstance(params, dict):
            return params
        names = canonical_names()
        by_name: dict[str, list[str]] = {}
        for key in params:
            if key in names:
                by_name.setdefault(names[key], []).append(key)
        for name, keys in by_name.items():
            if len(keys) > 1:
                raise broken(f"{' and '.join(keys)} are the same LightGBM parameter ({name}): give it once")
        return params


_TYPES: dict[str, Any] = {
    "int": int,
    "double": float,  # strict: an integer is a number too, a boolean is not
    "bool": bool,
    "string": str,
    "strings": str | list[str],
    "numbers": list[float | list[float]],
}


@functools.cache
def params_model() -> type[MLParamsInput]:
    """The ML params schema, generated from LightGBM's own table (:func:`canonical_names`,
    :func:`parameter_types`): every main name and alias LightGBM accepts, typed as LightGBM reads
    it (null for its default), except :data:`HOST_PARAMETERS` and ``lightgbm.Dataset``'s arguments."""
    names, types = canonical_names(), parameter_types()
    accepted = sorted(
        key for key, name in names.items() if name not in HOST_PARAMETERS and key not in dataset_arguments()
    )
    fields: dict[str, Any] = {}
    for i, key in enumerate(accepted):
        kind = types.get(names[key])
        about = f"LightGBM's {names[key]}" if key == names[key] else f"An alias of LightGBM's {names[key]}"
        fields[f"p{i}"] = (
            _TYPES[kind] | None if kind else Any,
            Field(None, alias=key, description=f"{about}: {_EXPECTED[kind]}" if kind else about),
        )
    return create_model("MLParams", __base__=MLParamsInput, **fields)


def _problem(errors: list[ErrorDetails], params: Mapping[str, Any]) -> str:
    """One message for the schema's errors: names first, then the types of every wrong value."""
    for error in errors:
        if error["type"] == RULE:
            return error["msg"]
        if not error["loc"]:
            return f"params must be a mapping, got {shown(error['input'])}"
    extra = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if extra:
        return _names_problem(extra)
    wrong = list(dict.fromkeys(str(e["loc"][0]) for e in errors if e["loc"]))
    return _joined([type_message(key, params[key]) for key in wrong])


def _names_problem(refused: list[str]) -> str:
    """Why keys the schema does not hold are refused: unknown, or a host or Dataset argument."""
    names = canonical_names()
    unknown = [key for key in refused if key not in names]
    if unknown:
        named = [f"{cut(key)} is not a LightGBM parameter{_closest(key)}" for key in unknown[:LIST_LIMIT]]
        return _joined(named, len(unknown))
    key = refused[0]
    if names[key] in HOST_PARAMETERS:
        return f"{key} is not allowed: it makes LightGBM use files or network on the server"
    return f"LightGBM ignores {key} in params (it is an argument of lightgbm.Dataset)"


def _joined(errors: list[str], total: int | None = None) -> str:
    """The first few of ``total`` errors (all of ``errors`` by default) in one message, and how many more."""
    total = len(errors) if total is None else total
    more = f"; and {total - LIST_LIMIT} more" if total > LIST_LIMIT else ""
    return "; ".join(errors[:LIST_LIMIT]) + more


def _closest(key: str) -> str:
    """A hint naming the closest main name or LGBMRegressor keyword, else the closest alias."""
    if len(key) > QUOTE_LIMIT:  # no parameter name is that long; comparing would only cost time
        return ""
    names = canonical_names()
    usual = set(names.values()) | _regressor_keywords()
    close = difflib.get_close_matches(key, usual, n=1) or difflib.get_close_matches(key, names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _feature_count(params: Mapping[str, Any], n_features: int | None) -> int:
    """Columns for the tiny fit: the real fit's, else as many as per-feature params give values."""
    names = canonical_names()
    lengths = {
        key: len(value)
        for key, value in params.items()
        if names[key] in PER_FEATURE_PARAMETERS and value is not None
    }
    for key, length in lengths.items():
        if n_features is not None and length != n_features:
            raise InvalidInput(
                f"{key} has {length} values, but the model has {n_features} feature columns: "
                "give one value per column, in the order of the model's feature columns"
            )
    if len(set(lengths.values())) > 1:
        (first, n_first), (other, n_other) = list(lengths.items())[:2]
        raise InvalidInput(
            f"{first} has {n_first} values and {other} {n_other}: each gives one value per feature column"
        )
    return n_features or next(iter(lengths.values()), 2)


def _check_fit(params: Mapping[str, Any], columns: int) -> None:
    """Fit ``LGBMRegressor(**params)`` on a tiny dataset, quietly, on one thread."""
    names = canonical_names()
    own = {key: value for key, value in params.items() if names[key] not in ("verbosity", "num_threads")}
    x = np.arange(20.0 * columns).reshape(20, columns)
    try:
        with quiet_fatal():
            lightgbm.LGBMRegressor(**{**regressor_kwargs(own), "n_jobs": 1}).fit(x, x[:, 0])
    except Exception as exc:  # LightGBM raises several types for bad values
        raise InvalidInput(f"LightGBM refuses the params: {clean_message(exc)}") from None


@functools.cache
def canonical_names() -> dict[str, str]:
    """Every name ``LGBMRegressor(**params)`` accepts, mapped to LightGBM's main name for it.

    LightGBM's parameters and all their aliases, plus LGBMRegressor's own keywords (those
    that are not aliases, ``class_weight`` and ``importance_type``, map to themselves).
    """
    names = {
        alias: name for name, aliases in _ConfigAliases._get_all_param_aliases().items() for alias in aliases
    }
    return names | {keyword: keyword for keyword in _regressor_keywords() if keyword not in names}


@functools.cache
def _regressor_keywords() -> frozenset[str]:
    """The keywords of ``LGBMRegressor``'s own signature."""
    parameters = inspect.signature(lightgbm.LGBMRegressor.__init__).parameters.values()
    return frozenset(p.name for p in parameters if p.name != "self" and p.kind is not p.VAR_KEYWORD)


@functools.cache
def parameter_types() -> dict[str, str]:
    """LightGBM's type of each parameter by main name: int, double, bool, string, strings or numbers.

    Read back through ``LGBM_BoosterGetLoadedParam`` from a probe model text (see the module
    docstring). Vectors of ints, doubles and int lists come back alike, as "numbers".
    """
    x = np.arange(8.0).reshape(4, 2)
    # verbosity -1 also silences, in this thread, LightGBM's warning about the probe's
    # parameters that its type table does not hold (``task``).
    booster = lightgbm.train(
        {"verbosity": -1, "num_threads": 1, "min_data_in_leaf": 1}, lightgbm.Dataset(x, x[:, 0]), 1
    )
    probe = "\n".join(f"[{name}: 0.5]" for name in sorted(set(canonical_names().values())))
    text = re.sub(
        r"(?s)\nparameters:\n.*?\nend of parameters\n",
        lambda _: f"\nparameters:\n{probe}\nend of parameters\n",
        booster.model_to_string(),
    )
    loaded = lightgbm.Booster(model_str=text)._get_loaded_param()
    return {name: _type_of(value) for name, value in loaded.items()}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return "strings" if all(isinstance(v, str) for v in value) else "numbers"


_EXPECTED = {
    "int": "an integer",
    "double": "a number",
    "bool": "true or false",
    "string": "a string",
    "strings": "a string or a list of strings",
    "numbers": "a list of numbers",
}
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def type_message(key: str, value: Any) -> str:
    """What the schema says ``key`` must be, for a ``value`` it refused."""
    kind = parameter_types()[canonical_names()[key]]
    got = shown(value)
    if kind in ("int", "double") and isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        got = f"the text {shown(value)} (YAML reads {cut(value)} as text: write 1.0e-3 rather than 1e-3)"
    return f"{key} must be {_EXPECTED[kind]}, got {got}"


def dataset_arguments() -> frozenset[str]:
    """Names ``lightgbm.Dataset`` takes as arguments: LightGBM ignores them in params (with a warning)."""
    return frozenset(inspect.signature(lightgbm.Dataset.__init__).parameters) - {"self", "params"}


def regressor_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as keywords of LGBMRegressor, which means the same model and prints nothing.

    An alias of ``objective`` goes under that name (LGBMRegressor warns about aliases of its
    own argument), and verbosity is -1 unless params set it.
    """
    names = canonical_names()
    kwargs = {("objective" if names[k] == "objective" else k): v for k, v in params.items()}
    if not any(names[k] == "verbosity" for k in params):
        kwargs["verbose"] = -1
    return kwargs


def clean_message(exc: BaseException) -> str:
    """The first line of a LightGBM error without the C++ source file and line it names."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return re.sub(r"\s+at \S+, line \d+\s*\.?$", "", lines[0].strip())


@contextmanager
def quiet_fatal() -> Iterator[Callable[[], None]]:
    """Drop LightGBM's ``[LightGBM] [Fatal]`` line written to stderr while the block runs.

    File descriptor 2 points at a temporary file until the block ends or the yielded
    ``release`` is called; then everything else written meanwhile, by any thread, is passed
    on to the real stderr. Callers turn LightGBM's exception, which carries the same
    message, into a clean error. One block at a time per process (nested blocks are fine).
    """
    _FD2_LOCK.acquire()
    try:
        sink = tempfile.TemporaryFile()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
    except BaseException:
        _FD2_LOCK.release()
        raise
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        try:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = _without_fatal(sink.read())
            sink.close()
            if kept:
                os.write(2, kept)
        finally:
            _FD2_LOCK.release()

    try:
        yield release
    finally:
        release()


def _without_fatal(written: bytes) -> bytes:
    """``written`` without LightGBM's Fatal lines and the blank line some of them end with."""
    kept: list[bytes] = []
    after_fatal = False
    for line in written.splitlines(keepends=True):
        if line.startswith(FATAL_PREFIX) or (after_fatal and not line.strip()):
            after_fatal = True
            continue
        after_fatal = False
        kept.append(line)
    return b"".join(kept)


class ReleaseBeforeFirstRound:
    """LightGBM callback ending :func:`quiet_fatal` once the Dataset and Booster are built.

    LightGBM checks params, and labels against the objective, while it builds them; the
    boosting rounds then run with stderr as it is, so a long fit holds nothing back.
    """

    before_iteration = True
    order = 0

    def __init__(self, release: Callable[[], None]) -> None:
        self.release = release

    def __call__(self, env: Any) -> None:
        self.release()
