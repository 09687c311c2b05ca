"""Refresh series with version detection (DESIGN.md, "the central contract").

For each series, a new download ``D`` is compared with the current version ``V``:

- no ``V`` → ``created`` (a version holding all of ``D``);
- every ``(time, value)`` of ``V`` is in ``D`` → the rows of ``D`` not in ``V`` are
  appended: ``appended`` (n rows) or ``unchanged`` (0 rows);
- otherwise ``V`` is expired and a new version holds all of ``D``: ``new_version``.

The comparison reads no old values in the common case: each version keeps its
first/last time, row count and digest (:mod:`forecasting.digest`), and ``D``
restricted to ``V``'s time range must have the same count and digest. Only when ``D``
has *more* rows than ``V`` inside that range (``V`` had gaps) are ``V``'s values
read, for those series alone, to decide exactly.

A batch costs a constant number of statements: a locking SELECT of the series, one
SELECT of every series' current-version summary, the new version summaries staged
and applied with ``INSERT … SELECT`` / ``UPDATE … FROM``, and the new rows written
in one bulk load (COPY on Postgres) — all in one transaction, so a failure leaves
every series as it was. Locking the series rows (in id order)
before reading their summaries makes concurrent refreshes of the same series
behave as if run one after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    false,
    insert,
    literal,
    select,
    update,
)

from forecasting.db import is_postgres, writing
from forecasting.digest import row_hashes
from forecasting.errors import Conflict, ForecastingError, NotFound, SourceError
from forecasting.models import ID, TimeSeries, TSValue, TSVersion, is_current, utcnow
from forecasting.series import insert_series, new_series_spec, series_specs
from forecasting.sources import DataSource, SeriesSpec, clean_download, fed_by_uploads, get_source
from forecasting.sources.upload import UploadSource, read_upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    """The outcome of one series; ``version_id`` is its current version afterwards.

    ``exception`` is what made an ``error``: its type tells a caller whether a retry
    can help (e.g. :class:`~forecasting.errors.RateLimited`); it is not reported.
    """

    series: str
    outcome: str
    version_id: int | None = None
    rows_added: int = 0
    error: str | None = None
    exception: Exception | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict:
        return {
            "series": self.series,
            "outcome": self.outcome,
            "version_id": self.version_id,
            "rows_added": self.rows_added,
            "error": self.error,
        }


def refresh(
    engine: Engine,
    names: Sequence[str] | None = None,
    *,
    sources: Mapping[str, DataSource] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[RefreshResult]:
    """Download the named series (all when None) and store them in one transaction.

    A series whose download fails is reported as ``error`` and the others go on. A series
    fed by uploads has nothing to download: it is ``unchanged``.
    ``sources`` overrides the default source of a name (e.g. configured Google
    settings); ``progress`` is called with each series name once it is downloaded.
    """
    with engine.connect() as conn:
        specs = series_specs(conn, names)
    fed = [spec for spec in specs if fed_by_uploads(spec.source)]
    pulled = [spec for spec in specs if not fed_by_uploads(spec.source)]
    downloads, failures = download(pulled, sources=sources, progress=progress)
    results = {r.series: r for r in failures}
    results.update({r.series: r for r in store(engine, pulled, downloads)})
    results.update({r.series: r for r in _left_as_uploaded(engine, fed)})
    return [results[spec.name] for spec in specs]


def download(
    specs: Sequence[SeriesSpec],
    *,
    sources: Mapping[str, DataSource] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[RefreshResult]]:
    """Each series' clean download, and an ``error`` result for each that failed."""
    chosen: dict[str, DataSource] = dict(sources or {})
    frames: dict[str, pd.DataFrame] = {}
    failures: list[RefreshResult] = []
    for spec in specs:
        try:
            source = chosen.get(spec.source) or chosen.setdefault(spec.source, get_source(spec.source))
            frames[spec.name] = clean_download(spec.name, source.download(spec))
        except ForecastingError as exc:
            failures.append(RefreshResult(spec.name, "error", error=str(exc), exception=exc))
        except Exception as exc:  # a source bug must not stop the other series
            log.exception("download of series %r failed", spec.name)
            failures.append(
                RefreshResult(
                    spec.name,
                    "error",
                    error=f"series {spec.name!r}: {type(exc).__name__}: {exc}",
                    exception=exc,
                )
            )
        if progress:
            progress(spec.name)
    return frames, failures


def store(
    engine: Engine, specs: Sequence[SeriesSpec], downloads: Mapping[str, pd.DataFrame]
) -> list[RefreshResult]:
    """Apply the version-detection contract to clean downloads, atomically."""
    if not any(spec.name in downloads for spec in specs):
        return []
    with writing(engine) as conn:
        return store_in(conn, specs, downloads)


def store_in(
    conn: Connection, specs: Sequence[SeriesSpec], downloads: Mapping[str, pd.DataFrame]
) -> list[RefreshResult]:
    """:func:`store` inside the caller's write transaction."""
    ids = {spec.name: spec.id for spec in specs if spec.name in downloads}
    if not ids:
        return []
    names = {series_id: name for name, series_id in ids.items()}
    frames = [downloads[name] for name in ids]
    data = pd.concat(frames, ignore_index=True)
    data["series_id"] = np.repeat(list(ids.values()), [len(frame) for frame in frames])
    data["hash"] = row_hashes(data["time"], data["value"])
    current = _lock_current(conn, list(names))
    gone = [_deleted(names[i]) for i in names if i not in current.index]
    data = data[data["series_id"].isin(current.index)]
    plan, write = _decide(conn, data, current)
    version_ids = _write(conn, data[write], plan) if write.any() else {}
    current_ids = plan["version_id"].astype("Int64").to_dict() | version_ids
    results = [
        RefreshResult(names[series_id], outcome, int(current_ids[series_id]), int(rows))
        for series_id, outcome, rows in zip(plan.index, plan["outcome"], plan["write_rows"])
    ]
    return results + gone


def add_and_download(
    engine: Engine,
    name: str,
    source: str,
    params: Mapping[str, Any],
    *,
    sources: Mapping[str, DataSource] | None = None,
) -> RefreshResult:
    """Define a series and store its first version in one transaction.

    The download happens first; if it fails, nothing is created (the seed created
    the series and then downloaded, leaving an empty series behind on failure), and
    its error is raised as it is: it names the series already, and its kind tells
    the caller whether a retry can help.
    """
    spec = new_series_spec(name, source, params, sources)
    downloads, failures = download([spec], sources=sources)
    if failures:
        failure = failures[0].exception
        if isinstance(failure, ForecastingError):
            raise failure
        raise SourceError(name, f"{type(failure).__name__}: {failure}") from failure
    with writing(engine) as conn:
        created = insert_series(conn, spec)
        return store_in(conn, [created], downloads)[0]


def store_upload(
    engine: Engine, name: str, content: bytes, options: Mapping[str, Any]
) -> tuple[RefreshResult, bool]:
    """Store uploaded CSV content as the download of series ``name``, with version detection.

    The first upload creates the series (source ``upload``); the outcome is decided and
    stored exactly as a refresh stores a download. A series of another source is
    refused: its next refresh would replace what was sent. Returns the outcome and
    whether the series was created.
    """
    frame = clean_download(name, read_upload(name, content, options))
    with writing(engine) as conn:
        row = conn.execute(select(TimeSeries.id, TimeSeries.source).where(TimeSeries.name == name)).first()
        if row is None:
            spec = insert_series(conn, new_series_spec(name, UploadSource.name, {}))
        elif row.source != UploadSource.name:
            raise Conflict(
                f"series {name!r} comes from source {row.source!r}: only series of source "
                f"{UploadSource.name!r} take uploads, as a refresh would replace what was sent"
            )
        else:
            spec = SeriesSpec(name=name, source=row.source, id=row.id)
        return store_in(conn, [spec], {name: frame})[0], row is None


def _left_as_uploaded(engine: Engine, specs: Sequence[SeriesSpec]) -> list[RefreshResult]:
    """Series fed by uploads, which a refresh leaves at their current version."""
    if not specs:
        return []
    with engine.connect() as conn:
        current = dict(
            conn.execute(
                select(TSVersion.timeseries_id, TSVersion.id).where(
                    TSVersion.timeseries_id.in_([spec.id for spec in specs]), is_current()
                )
            ).all()
        )
    return [RefreshResult(spec.name, "unchanged", current.get(spec.id)) for spec in specs]


def _deleted(name: str) -> RefreshResult:
    error = NotFound(f"series {name!r} was deleted during the refresh")
    return RefreshResult(name, "error", error=str(error), exception=error)


def _lock_current(conn: Connection, series_ids: list[int]) -> pd.DataFrame:
    """Lock the series rows (id order), then read their current versions' summaries.

    Two statements on purpose: under READ COMMITTED a statement that waited for a row
    lock still sees the rest of the database as of its start, so the summaries must
    be read by a statement that starts after the lock is held.
    """
    conn.execute(
        select(TimeSeries.id).where(TimeSeries.id.in_(series_ids)).order_by(TimeSeries.id).with_for_update()
    )
    rows = conn.execute(
        select(
            TimeSeries.id.label("series_id"),
            TSVersion.id.label("version_id"),
            TSVersion.n_values,
            TSVersion.first_time,
            TSVersion.last_time,
            TSVersion.digest,
        )
        .outerjoin(TSVersion, and_(TSVersion.timeseries_id == TimeSeries.id, is_current()))
        .where(TimeSeries.id.in_(series_ids))
    ).all()
    frame = pd.DataFrame(
        rows, columns=["series_id", "version_id", "n_values", "first_time", "last_time", "digest"]
    ).set_index("series_id")
    for col in ("version_id", "n_values", "digest"):
        frame[col] = frame[col].astype("Int64")
    for col in ("first_time", "last_time"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    return frame


def _decide(conn: Connection, data: pd.DataFrame, current: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Each series' outcome and new summary, and which rows of ``data`` to store.

    Returns one row per series with ``outcome``, ``version_id`` (the current version
    before the refresh), ``write_rows`` and the summary the version will have; and a
    boolean mask over ``data``.
    """
    joined = data.join(current, on="series_id")
    in_range = (
        joined["version_id"].notna()
        & (joined["time"] >= joined["first_time"])
        & (joined["time"] <= joined["last_time"])
    ).to_numpy(dtype=bool)
    per = (
        data.assign(in_range=in_range, h_in=np.where(in_range, data["hash"], 0))
        .groupby("series_id")
        .agg(n_in=("in_range", "sum"), d_in=("h_in", "sum"))
        .join(current)
    )
    has_version = per["version_id"].notna()
    digest_match = has_version & (per["n_in"] == per["n_values"]) & (per["d_in"] == per["digest"])
    gap_filled = has_version & (per["n_in"] > per["n_values"])

    keeps_version = digest_match.fillna(False).to_numpy(dtype=bool)
    write = ~in_range  # when V ⊆ D, the rows outside V's range are the new ones
    gap_series = per.index[gap_filled.fillna(False).to_numpy(dtype=bool)]
    if len(gap_series):
        in_v, subset_series = _rows_in_current(conn, data, per.loc[gap_series])
        write = np.where(data["series_id"].isin(gap_series).to_numpy(), ~in_v, write)
        keeps_version |= per.index.isin(subset_series)
    keeps_rows = data["series_id"].isin(per.index[keeps_version]).to_numpy()
    write = np.where(keeps_rows, write, True)

    written = (
        data[write]
        .groupby("series_id")
        .agg(
            write_rows=("time", "size"),
            w_hash=("hash", "sum"),
            w_first=("time", "min"),
            w_last=("time", "max"),
        )
    )
    per = per.join(written)
    per["write_rows"] = per["write_rows"].fillna(0).astype(int)
    per["outcome"] = np.select(
        [
            ~has_version.to_numpy(dtype=bool),
            keeps_version & (per["write_rows"] > 0).to_numpy(),
            keeps_version,
        ],
        ["created", "appended", "unchanged"],
        "new_version",
    )
    fresh = per["outcome"].isin(["created", "new_version"])
    per["new_n_values"] = np.where(fresh, per["write_rows"], per["n_values"].fillna(0) + per["write_rows"])
    per["new_digest"] = np.where(
        fresh, per["w_hash"].fillna(0), per["digest"].fillna(0) + per["w_hash"].fillna(0)
    )
    per["new_first"] = per["w_first"].where(fresh, per[["first_time", "w_first"]].min(axis=1))
    per["new_last"] = per["w_last"].where(fresh, per[["last_time", "w_last"]].max(axis=1))
    return per, write


def _rows_in_current(conn: Connection, data: pd.DataFrame, gap: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    """Exact test of V ⊆ D for series whose download has extra rows inside V's range.

    Reads the values of those versions only (one SELECT). Returns, per row of
    ``data``, whether its time is in V, and the series whose V is a subset of D.
    """
    old = pd.DataFrame(
        conn.execute(
            select(TSVersion.timeseries_id, TSValue.time, TSValue.value)
            .join(TSVersion, TSVersion.id == TSValue.version_id)
            .where(TSValue.version_id.in_([int(v) for v in gap["version_id"]]))
        ).all(),
        columns=["series_id", "time", "old_value"],
    )
    old["time"] = pd.to_datetime(old["time"]).astype("datetime64[us]")
    merged = data[["series_id", "time", "value"]].merge(old, on=["series_id", "time"], how="left")
    in_v = merged["old_value"].notna().to_numpy()
    matches = (merged["value"] == merged["old_value"]).groupby(merged["series_id"]).sum()
    subset = [int(s) for s in gap.index if matches.get(s, 0) == gap.at[s, "n_values"]]
    return in_v, subset


_staging = MetaData()
_stage_version = Table(
    "refresh_stage_version",
    _staging,
    Column("series_id", ID),
    Column("outcome", String(16)),
    Column("version_id", ID),
    Column("n_values", Integer),
    Column("first_time", DateTime),
    Column("last_time", DateTime),
    Column("digest", BigInteger),
    prefixes=["TEMPORARY"],
)


def _write(conn: Connection, rows: pd.DataFrame, plan: pd.DataFrame) -> dict[int, int]:
    """Apply the plan set-based: versions through a staged table, ``rows`` straight in.

    Returns the id of each series' new version (created / new_version).
    """
    changed = plan[plan["outcome"] != "unchanged"]
    versions = pd.DataFrame(
        {
            "series_id": changed.index.astype("int64"),
            "outcome": changed["outcome"],
            "version_id": changed["version_id"].astype("Int64"),
            "n_values": changed["new_n_values"].astype("int64"),
            "first_time": changed["new_first"],
            "last_time": changed["new_last"],
            "digest": changed["new_digest"].astype("int64"),
        }
    ).reset_index(drop=True)
    _stage_version.create(conn)
    _bulk_load(conn, _stage_version, versions)
    sv = _stage_version.c
    conn.execute(
        update(TSVersion)
        .where(TSVersion.id.in_(select(sv.version_id).where(sv.outcome == "new_version")))
        .values(expired=True)
    )
    created = dict(
        conn.execute(
            insert(TSVersion)
            .from_select(
                ["timeseries_id", "created_at", "expired", "n_values", "first_time", "last_time", "digest"],
                select(
                    sv.series_id,
                    literal(utcnow(), DateTime),
                    false(),
                    sv.n_values,
                    sv.first_time,
                    sv.last_time,
                    sv.digest,
                ).where(sv.outcome.in_(["created", "new_version"])),
            )
            .returning(TSVersion.timeseries_id, TSVersion.id)
        ).all()
    )
    conn.execute(
        update(TSVersion)
        .where(TSVersion.id == sv.version_id, sv.outcome == "appended")
        .values(n_values=sv.n_values, first_time=sv.first_time, last_time=sv.last_time, digest=sv.digest)
    )
    _stage_version.drop(conn)
    target = changed["version_id"].astype("Int64").to_dict() | created
    values = pd.DataFrame(
        {
            "version_id": rows["series_id"].map(target).astype("int64"),
            "time": rows["time"],
            "value": rows["value"],
        }
    )
    _bulk_load(conn, TSValue.__table__, values)
    return created


def _bulk_load(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """COPY on Postgres; one executemany elsewhere."""
    if frame.empty:
        return
    if not is_postgres(conn):
        conn.execute(insert(table), frame.astype(object).where(frame.notna(), None).to_dict("records"))
        return
    columns = ", ".join(frame.columns)
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
            copy.write(_copy_text(frame))


def _copy_text(frame: pd.DataFrame) -> str:
    """COPY text format; each distinct time is formatted once (weekly data repeat them)."""
    columns = []
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            distinct, position = np.unique(values.to_numpy(), return_inverse=True)
            text = (
                pd.DatetimeIndex(distinct).strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object)[position]
            )
        else:
            text = values.astype(object).where(values.notna(), "\\N").astype(str).to_numpy(dtype=object)
        columns.append(text)
    return "".join(f"{line}\n" for line in map("\t".join, zip(*columns)))
