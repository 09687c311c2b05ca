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
from serving.apidoc import CSV_BODY, DAG_RUN_NOTE, Answer, operation
from serving.schemas import (
    CreateSeries,
    DagRun,
    RefreshFailed,
    RefreshReport,
    Series,
    SeriesValues,
    SeriesVersion,
    SeriesWithRefresh,
    UploadQuery,
)

bp = Blueprint("timeseries", __name__)
UPLOAD_TYPES = ("text/csv", "text/plain")
SERIES = ("series", "sample-tea")
REFRESHED = {
    200: Answer("The series was downloaded (per-series outcomes; some may have failed)", RefreshReport),
    202: Answer(DAG_RUN_NOTE, DagRun),
    502: Answer("Every download failed (with the per-series outcomes), or Airflow failed", RefreshFailed),
}


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
@operation("List every series", {200: Answer("Every series", [Series])}, (503,))
def list_series():
    with context.engine().connect() as conn:
        return jsonify(series_overview(conn))


@bp.post("/timeseries")
@operation(
    "Define a series and download its first version (nothing is kept if the download fails)",
    {201: Answer("The new series with its first download", SeriesWithRefresh)},
    (404, 409, 502, 503),
    body=CreateSeries,
    write=True,
)
def create_series(payload: CreateSeries):
    """Define a series and download its first version; nothing is kept if the download fails."""
    series = payload.root
    result = add_and_download(context.engine(), series.name, series.source, series.params, sources=_sources())
    return jsonify({**_overview(series.name), "refresh": result.as_dict()}), 201


@bp.post("/timeseries/<name>/upload")
@operation(
    "Store the CSV body as the series' new download, with version detection (an appended past keeps "
    "the version, a changed past makes a new one); the first upload creates the series, of source "
    "upload, which a refresh leaves as it is. Parsed as the csv source parses a file.",
    {
        200: Answer("Stored: the series with the upload's outcome", SeriesWithRefresh),
        201: Answer("The series was created by this upload", SeriesWithRefresh),
    },
    (400, 409, 413, 415, 503),
    raw_body=CSV_BODY,
    query=UploadQuery,
    name=("series", "uploaded-clicks"),
    write=True,
)
def upload_values(name: str, query: UploadQuery):
    """Store the CSV body as the series' new download (version detection); the first upload creates it.

    The query parameters say how to parse it, as the csv source's params do.
    """
    if request.mimetype not in UPLOAD_TYPES:
        raise UnsupportedMediaType(f"send the CSV as the body, with Content-Type {UPLOAD_TYPES[0]}")
    options = query.model_dump(exclude_none=True)
    result, created = store_upload(context.engine(), name, request.get_data(), options)
    return jsonify({**_overview(name), "refresh": result.as_dict()}), 201 if created else 200


@bp.get("/timeseries/<name>")
@operation("One series", {200: Answer("The series", Series)}, (404, 503), name=SERIES)
def get_series(name: str):
    return jsonify(_overview(name))


@bp.delete("/timeseries/<name>")
@operation(
    "Delete a series with all its versions",
    {204: Answer("Deleted")},
    (404, 409, 503),
    name=SERIES,
    write=True,
)
def remove_series(name: str):
    delete_series(context.engine(), name)
    return "", 204


@bp.get("/timeseries/<name>/latest-values")
@operation(
    "The values of the series' current version",
    {200: Answer("The values", SeriesValues)},
    (404, 503),
    name=SERIES,
)
def latest_values(name: str):
    """The values of the series' *current* version (the seed returned its oldest)."""
    return _values(name, None)


@bp.get("/timeseries/<name>/versions")
@operation(
    "Every version of the series, oldest first",
    {200: Answer("The versions", [SeriesVersion])},
    (404, 503),
    name=SERIES,
)
def versions(name: str):
    with context.engine().connect() as conn:
        return jsonify(list_versions(conn, name))


@bp.get("/timeseries/<name>/versions/<int:version_id>/values")
@operation(
    "The values of one version of the series",
    {200: Answer("The values", SeriesValues)},
    (404, 503),
    name=SERIES,
    examples={"version_id": 2},
)
def values(name: str, version_id: int):
    return _values(name, version_id)


@bp.post("/timeseries/<name>/update-values")
@operation(
    f"Download the series again and store what changed. {DAG_RUN_NOTE}",
    REFRESHED,
    (404, 503),
    name=SERIES,
    write=True,
)
def update_values(name: str):
    _overview(name)  # 404 for an unknown series, before anything is triggered
    if context.airflow():
        return _trigger_refresh([name])
    return _refreshed(refresh(context.engine(), [name], sources=_sources()))


@bp.post("/timeseries/update-all-values")
@operation(
    f"Download every series again and store what changed. {DAG_RUN_NOTE}", REFRESHED, (503,), write=True
)
def update_all_values():
    if context.airflow():
        return _trigger_refresh([])
    return _refreshed(refresh(context.engine(), sources=_sources()))
