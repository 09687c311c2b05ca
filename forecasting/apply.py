"""Declarative upsert of series, configs and models from one YAML document.

A document has up to five sections, each a list of items named uniquely within it::

    series:                 [{name, source, params?}]
    preprocessing_configs:  [{name, params}]
    ml_configs:             [{name, params}]
    data_configs:           [{name, targets, features?}]
    models:                 [{name, ml_config, data_config, preprocessing_config}]

The document is declared once, as :class:`forecasting.config_inputs.ApplyDocument` (its
``model_json_schema()`` states it); every item's params go through the same validator as
the CLI and the service (the source's ``validate_params``, :mod:`forecasting.configs`).
References (a data config's series, a model's configs) may name items of the same document
or objects already stored.

Everything is validated before anything is written; then one transaction writes, in
the order series, preprocessing configs, ML configs, data configs, models. An item
that does not exist is created; one whose content differs is updated in place (a
data config's members are replaced); an identical one is left alone, so applying the
same document twice writes nothing. The work is set-based: per kind one SELECT of the
stored rows by name, one bulk INSERT of the new ones and one UPDATE (executemany) of
the changed ones, whatever the number of items.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from forecasting.config_inputs import (
    DataConfigInput,
    MLConfigInput,
    ModelInput,
    PreprocessingConfigInput,
    SeriesInput,
    parse_document,
    where,
)
from forecasting.configs import models_with_configs, validate_params
from forecasting.db import writing
from forecasting.errors import Conflict, InvalidInput, NotFound, listed, shown
from forecasting.inputs import check_json, too_deep
from forecasting.models import (
    DataConfig,
    DataConfigSeries,
    MLConfig,
    MLModel,
    PreprocessingConfig,
    TimeSeries,
)
from forecasting.series import new_series_spec
from forecasting.sources import DataSource

ACTIONS = ("created", "updated", "unchanged")


@dataclass(frozen=True)
class ApplyResult:
    """What applying did to one item: ``action`` is created, updated or unchanged."""

    kind: str
    name: str
    action: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "action": self.action}


@dataclass(frozen=True)
class _Section:
    key: str  # the section's key in the document
    kind: str  # ApplyResult.kind
    label: str  # how messages name one item


# In the order they are written: each section may refer to the ones above it.
SECTIONS = (
    _Section("series", "series", "series"),
    _Section("preprocessing_configs", "preprocessing_config", "preprocessing config"),
    _Section("ml_configs", "ml_config", "ml config"),
    _Section("data_configs", "data_config", "data config"),
    _Section("models", "model", "model"),
)
_BY_KEY = {section.key: section for section in SECTIONS}
_MODEL_REFS = (
    ("ml_config", "ml_configs", "ml config"),
    ("data_config", "data_configs", "data config"),
    ("preprocessing_config", "preprocessing_configs", "preprocessing config"),
)


@dataclass(frozen=True)
class _Item:
    """A validated item: ``content`` is what is stored, in comparable form."""

    where: str  # e.g. "models[1] ('flu')", for messages; without the origin (the file)
    name: str
    content: dict[str, Any]


# Entry points ------------------------------------------------------------------------


def apply_file(
    engine: Engine, path: str | os.PathLike[str], sources: Mapping[str, DataSource] | None = None
) -> list[ApplyResult]:
    """Apply the YAML document in ``path``; error messages start with the file name.

    ``sources`` are the sources as the caller configured them (e.g. the CLI's CSV roots).
    """
    return _apply(engine, load_file(path), f"{path}: ", sources)


def apply_document(
    engine: Engine, document: Mapping[str, Any], sources: Mapping[str, DataSource] | None = None
) -> list[ApplyResult]:
    """Apply an already parsed document (the content of a YAML file)."""
    return _apply(engine, document, "", sources)


def load_file(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file; a missing file or a syntax error is InvalidInput naming file and line.

    The document must be plain JSON-like data within the input bounds
    (:func:`forecasting.inputs.check_json`), checked before anything walks it.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the file: {exc}") from None
    try:
        return check_json(f"{path}: the document", yaml.safe_load(text))
    except RecursionError:
        raise too_deep(f"{path}: the document") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise InvalidInput(f"{path}: {position}invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: invalid YAML: {exc}") from None


def _apply(
    engine: Engine, document: Any, origin: str, sources: Mapping[str, DataSource] | None
) -> list[ApplyResult]:
    items = _validate_document(document, origin, sources)
    if not any(items.values()):
        return []
    try:
        with writing(engine) as conn:
            return _Writer(conn, items, origin).run()
    except IntegrityError as exc:
        # Only a concurrent writer creating or deleting the same names gets here.
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise Conflict(f"{origin}the store changed while applying; apply again ({detail})") from exc


# Validation (no database) ---------------------------------------------------------------


def _validate_document(
    document: Any, origin: str, sources: Mapping[str, DataSource] | None
) -> dict[str, list[_Item]]:
    """The document by its schema (:class:`ApplyDocument`), then each item's params by the
    validator of its kind (the source's, :mod:`forecasting.configs`) and names unique per section."""
    if document is None:
        known = ", ".join(_BY_KEY)
        raise InvalidInput(f"{origin}the document is empty; expected a mapping with sections {known}")
    check_json(f"{origin}the document", document)
    parsed = parse_document(document, origin)
    contents = {**_CONTENT, "series": partial(_series_content, sources=sources)}
    items: dict[str, list[_Item]] = {}
    for section in SECTIONS:
        entries = getattr(parsed, section.key)
        items[section.key] = []
        first_index: dict[str, int] = {}
        for index, entry in enumerate(entries):
            at = where(section.key, index, document[section.key][index])
            if entry.name in first_index:
                raise InvalidInput(
                    f"{origin}{at}: duplicate name, also {section.key}[{first_index[entry.name]}]"
                )
            first_index[entry.name] = index
            try:
                content = contents[section.kind](section, entry)
            except InvalidInput as exc:
                message = str(exc).removeprefix(f"{section.label} {entry.name!r}: ")
                raise InvalidInput(f"{origin}{at}: {message}") from None
            items[section.key].append(_Item(where=at, name=entry.name, content=content))
    return items


def _series_content(
    section: _Section, entry: SeriesInput, sources: Mapping[str, DataSource] | None = None
) -> dict[str, Any]:
    params = new_series_spec(entry.name, entry.source, entry.params, sources).params
    return {"source": entry.source, "params": _json(params)}


def _params_content(section: _Section, entry: PreprocessingConfigInput | MLConfigInput) -> dict[str, Any]:
    return {"params": _json(validate_params(section.kind, entry.name, entry.params))}


def _data_config_content(section: _Section, entry: DataConfigInput) -> dict[str, Any]:
    return {"members": entry.roles()}


def _model_content(section: _Section, entry: ModelInput) -> dict[str, Any]:
    return {key: getattr(entry, key) for key, _, _ in _MODEL_REFS}


_CONTENT = {
    "series": _series_content,
    "preprocessing_config": _params_content,
    "ml_config": _params_content,
    "data_config": _data_config_content,
    "model": _model_content,
}


def _json(params: dict[str, Any]) -> dict[str, Any]:
    """Params as the store will give them back (JSON), so that comparisons are exact."""
    return json.loads(json.dumps(params, allow_nan=False))


def _same(stored: Any, wanted: Any) -> bool:
    """Exact JSON equality: 1, 1.0 and true are different values."""
    return json.dumps(stored, sort_keys=True) == json.dumps(wanted, sort_keys=True)


# Reading and writing (one transaction) ------------------------------------------------


class _Writer:
    """Reads the stored rows of every kind, checks references, then writes the differences."""

    def __init__(self, conn: Connection, items: dict[str, list[_Item]], origin: str):
        self.conn = conn
        self.items = items
        self.origin = origin
        self.results: list[ApplyResult] = []

    def run(self) -> list[ApplyResult]:
        series, data, models = self.items["series"], self.items["data_configs"], self.items["models"]
        series_names = _names(series) | {s for item in data for s in item.content["members"]}
        stored_series = self._read_series(series_names)
        stored_params = {
            key: self._read_params(table, _names(self.items[key]) | self._referenced(ref))
            for key, table, ref in (
                ("preprocessing_configs", PreprocessingConfig, "preprocessing_config"),
                ("ml_configs", MLConfig, "ml_config"),
            )
        }
        stored_data = self._read_data_configs(_names(data) | self._referenced("data_config"))
        stored_models = self._read_models(_names(models))
        self._check_references(
            stored_series,
            {
                "preprocessing_configs": stored_params["preprocessing_configs"],
                "ml_configs": stored_params["ml_configs"],
                "data_configs": stored_data,
            },
        )

        series_ids = self._write_series(stored_series)
        config_ids = {
            key: self._write_params(key, table, stored_params[key])
            for key, table in (("preprocessing_configs", PreprocessingConfig), ("ml_configs", MLConfig))
        }
        config_ids["data_configs"] = self._write_data_configs(stored_data, series_ids)
        self._write_models(stored_models, config_ids)
        return self.results

    # Reads: one SELECT per kind, skipped when the document names none of that kind.

    def _referenced(self, key: str) -> set[str]:
        return {item.content[key] for item in self.items["models"]}

    def _read_series(self, names: set[str]) -> dict[str, Any]:
        if not names:
            return {}
        stmt = select(TimeSeries.id, TimeSeries.name, TimeSeries.source, TimeSeries.params)
        return {row.name: row for row in self.conn.execute(stmt.where(TimeSeries.name.in_(sorted(names))))}

    def _read_params(self, table: type, names: set[str]) -> dict[str, Any]:
        if not names:
            return {}
        stmt = select(table.id, table.name, table.params).where(table.name.in_(sorted(names)))
        return {row.name: row for row in self.conn.execute(stmt)}

    def _read_data_configs(self, names: set[str]) -> dict[str, dict[str, Any]]:
        """Name → {"id", "members": {series name: role}}, members included, in one SELECT."""
        if not names:
            return {}
        stmt = (
            select(DataConfig.id, DataConfig.name, TimeSeries.name.label("series"), DataConfigSeries.role)
            .outerjoin(DataConfigSeries, DataConfigSeries.data_config_id == DataConfig.id)
            .outerjoin(TimeSeries, TimeSeries.id == DataConfigSeries.timeseries_id)
            .where(DataConfig.name.in_(sorted(names)))
        )
        found: dict[str, dict[str, Any]] = {}
        for row in self.conn.execute(stmt):
            config = found.setdefault(row.name, {"id": row.id, "members": {}})
            if row.series is not None:
                config["members"][row.series] = row.role
        return found

    def _read_models(self, names: set[str]) -> dict[str, Any]:
        if not names:
            return {}
        stmt = models_with_configs().where(MLModel.name.in_(sorted(names)))
        return {row.name: row for row in self.conn.execute(stmt)}

    def _check_references(self, stored_series: Mapping[str, Any], stored: Mapping[str, Mapping]) -> None:
        """Every name a data config or model refers to is in the document or stored; else NotFound."""
        problems: list[str] = []
        known_series = _names(self.items["series"]) | set(stored_series)
        for item in self.items["data_configs"]:
            missing = sorted(set(item.content["members"]) - known_series)
            if missing:
                problems.append(f"{item.where}: unknown series: {listed(missing)}")
        for item in self.items["models"]:
            missing = [
                f"{label} {shown(item.content[key])}"
                for key, section, label in _MODEL_REFS
                if item.content[key] not in _names(self.items[section]) | set(stored[section])
            ]
            if missing:
                problems.append(f"{item.where}: unknown {', '.join(missing)}")
        if problems:
            raise NotFound(f"{self.origin}{'; '.join(problems)}")

    # Writes: one bulk INSERT of the new items and one executemany UPDATE of the changed ones.

    def _record(self, section: str, item: _Item, action: str) -> None:
        self.results.append(ApplyResult(_BY_KEY[section].kind, item.name, action))

    def _plan(self, section: str, stored: Mapping[str, Any], same) -> tuple[list[_Item], list[_Item]]:
        """Split the section's items into new and changed ones, recording every outcome."""
        new: list[_Item] = []
        changed: list[_Item] = []
        for item in self.items[section]:
            if item.name not in stored:
                new.append(item)
                self._record(section, item, "created")
            elif not same(stored[item.name], item):
                changed.append(item)
                self._record(section, item, "updated")
            else:
                self._record(section, item, "unchanged")
        return new, changed

    def _insert(self, table: type, rows: list[dict[str, Any]]) -> dict[str, int]:
        if not rows:
            return {}
        result = self.conn.execute(insert(table).returning(table.id, table.name), rows)
        return {row.name: row.id for row in result}

    def _write_series(self, stored: Mapping[str, Any]) -> dict[str, int]:
        new, changed = self._plan(
            "series",
            stored,
            lambda row, item: (
                row.source == item.content["source"] and _same(row.params, item.content["params"])
            ),
        )
        ids = {name: row.id for name, row in stored.items()}
        ids |= self._insert(TimeSeries, [{"name": i.name, **i.content} for i in new])
        if changed:
            self.conn.execute(
                update(TimeSeries)
                .where(TimeSeries.id == bindparam("row_id"))
                .values(
                    source=bindparam("new_source"),
                    params=bindparam("new_params", type_=TimeSeries.params.type),
                ),
                [
                    {
                        "row_id": ids[i.name],
                        "new_source": i.content["source"],
                        "new_params": i.content["params"],
                    }
                    for i in changed
                ],
            )
        return ids

    def _write_params(self, section: str, table: type, stored: Mapping[str, Any]) -> dict[str, int]:
        new, changed = self._plan(
            section, stored, lambda row, item: _same(row.params, item.content["params"])
        )
        ids = {name: row.id for name, row in stored.items()}
        ids |= self._insert(table, [{"name": i.name, "params": i.content["params"]} for i in new])
        if changed:
            self.conn.execute(
                update(table)
                .where(table.id == bindparam("row_id"))
                .values(params=bindparam("new_params", type_=table.params.type)),
                [{"row_id": ids[i.name], "new_params": i.content["params"]} for i in changed],
            )
        return ids

    def _write_data_configs(
        self, stored: Mapping[str, dict[str, Any]], series_ids: Mapping[str, int]
    ) -> dict[str, int]:
        new, changed = self._plan(
            "data_configs", stored, lambda config, item: config["members"] == item.content["members"]
        )
        ids = {name: config["id"] for name, config in stored.items()}
        ids |= self._insert(DataConfig, [{"name": i.name} for i in new])
        if changed:
            self.conn.execute(
                delete(DataConfigSeries).where(
                    DataConfigSeries.data_config_id.in_([ids[i.name] for i in changed])
                )
            )
        members = [
            {"data_config_id": ids[i.name], "timeseries_id": series_ids[series], "role": role}
            for i in new + changed
            for series, role in i.content["members"].items()
        ]
        if members:
            self.conn.execute(insert(DataConfigSeries), members)
        return ids

    def _write_models(self, stored: Mapping[str, Any], config_ids: Mapping[str, Mapping[str, int]]) -> None:
        new, changed = self._plan(
            "models",
            stored,
            lambda row, item: all(getattr(row, key) == item.content[key] for key, _, _ in _MODEL_REFS),
        )

        def references(item: _Item) -> dict[str, int]:
            return {f"{key}_id": config_ids[section][item.content[key]] for key, section, _ in _MODEL_REFS}

        if new:
            self.conn.execute(insert(MLModel), [{"name": i.name, **references(i)} for i in new])
        if changed:
            self.conn.execute(
                update(MLModel)
                .where(MLModel.id == bindparam("row_id"))
                .values({f"{key}_id": bindparam(f"new_{key}_id") for key, _, _ in _MODEL_REFS}),
                [
                    {"row_id": stored[i.name].id, **{f"new_{k}": v for k, v in references(i).items()}}
                    for i in changed
                ],
            )


def _names(items: list[_Item]) -> set[str]:
    return {item.name for item in items}
