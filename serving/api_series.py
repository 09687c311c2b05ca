"""``/api/timeseries``: series, their versions and values, and downloads of new data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from forecasting.pipelines import REFRESH_DAG_ID, REFRESH_SERIES_PARAM
from forecasting.refresh import add_and_download, refresh, store_upload
from forecasting.series import delete_series, list_versions, series_overview, version_values
from forecasting.sources import DataSource
from forecasting.sources.csv_file import CsvSource
from forecasting.sources.csv_roots import csv_roots
from serving import context
from serving.jsonio import body, field

bp = Blueprint("timeseries", __name__)
UPLOAD_TYPES = ("text/csv", "text/plain")


def _overview(name: str) -> dict[str, Any]:
    with context.engine().connect() as conn:
        return series_overview(conn, name)[0]


def _values(name: str, version_id: int | None):
    with context.engine().connect() as conn:
        found, frame = version_values(conn, name, version_id)
    return jsonify({"series": name, "version_id": found, "values": frame.to_dict("records")})


def _refreshed(results: list) -> tuple[Any, int]:
    """200 when at least one series was stored, 502 when every download failed."""
    rows = [r.as_dict() for r in results]
    failed = [r for r in rows if r["outcome"] == "error"]
    document = {"results": rows, "errors": len(failed)}
    if rows and len(failed) == len(rows):
        return jsonify({"error": "; ".join(r["error"] for r in failed), **document}), 502
    return jsonify(document), 200


def _sources() -> dict[str, DataSource]:
    """The sources as the service configures them: CSV files only under FORECASTING_CSV_ROOTS,
    downloads from Google that stop at the request's deadline."""
    return {CsvSource.name: CsvSource(csv_roots(context.settings().csv_roots)), **context.inline_sources()}


def _trigger_refresh(names: list[str]):
    run = context.airflow().trigger(REFRESH_DAG_ID, {REFRESH_SERIES_PARAM: names})
    return jsonify(run), 202


@bp.get("/timeseries")
def list_series():
    with context.engine().connect() as conn:
        return jsonify(series_overview(conn))


@bp.post("/timeseries")
def create_series():
    """Define a series and download its first version; nothing is kept if the download fails."""
    payload = body()
    name = field(payload, "name", str)
    result = add_and_download(
        context.engine(),
        name,
        field(payload, "source", str),
        field(payload, "params", dict, {}),
        sources=_sources(),
    )
    return jsonify({**_overview(name), "refresh": result.as_dict()}), 201


@bp.post("/timeseries/<name>/upload")
def upload_values(name: str):
    """Store the CSV body as the series' new download (version detection); the first upload creates it.

    The query parameters say how to parse it, as the csv source's params do.
    """
    if request.mimetype not in UPLOAD_TYPES:
        raise UnsupportedMediaType(f"send the CSV as the body, with Content-Type {UPLOAD_TYPES[0]}")
    result, created = store_upload(context.engine(), name, request.get_data(), request.args.to_dict())
    return jsonify({**_overview(name), "refresh": result.as_dict()}), 201 if created else 200


@bp.get("/timeseries/<name>")
def get_series(name: str):
    return jsonify(_overview(name))


@bp.delete("/timeseries/<name>")
def remove_series(name: str):
    delete_series(context.engine(), name)
    return "", 204


@bp.get("/timeseries/<name>/latest-values")
def latest_values(name: str):
    """The values of the series' *current* version (the seed returned its oldest)."""
    return _values(name, None)


@bp.get("/timeseries/<name>/versions")
def versions(name: str):
    with context.engine().connect() as conn:
        return jsonify(list_versions(conn, name))


@bp.get("/timeseries/<name>/versions/<int:version_id>/values")
def values(name: str, version_id: int):
    return _values(name, version_id)


@bp.post("/timeseries/<name>/update-values")
def update_values(name: str):
    _overview(name)  # 404 for an unknown series, before anything is triggered
    if context.airflow():
        return _trigger_refresh([name])
    return _refreshed(refresh(context.engine(), [name], sources=_sources()))


@bp.post("/timeseries/update-all-values")
def update_all_values():
    if context.airflow():
        return _trigger_refresh([])
    return _refreshed(refresh(context.engine(), sources=_sources()))
