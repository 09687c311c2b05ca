"""The ``forecasting`` command line: database, series, refresh, versions, values.

Command and option names are a public interface. Errors the user can fix print one
line on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from forecasting import migrate
from forecasting.db import database_url, make_engine
from forecasting.errors import ForecastingError, InvalidInput
from forecasting.refresh import refresh as refresh_series
from forecasting.series import add_series, delete_series, list_versions, series_overview, version_values
from forecasting.sources import SOURCE_NAMES


class _Group(click.Group):
    """Turns domain and database errors into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ForecastingError as exc:
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise click.ClickException(f"database error: {detail}") from None


def _remember_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().meta["database_url"] = value


def database_option(command: Callable) -> Callable:
    """``--database-url`` on the group and on every command; it overrides the environment."""
    return click.option(
        "--database-url",
        metavar="URL",
        expose_value=False,
        callback=_remember_url,
        help="Database URL (default: $FORECASTING_DATABASE_URL, else sqlite:///var/forecasting.db).",
    )(command)


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)


def _engine(ctx: click.Context, *, migrated: bool = True) -> Engine:
    engine = make_engine(database_url(ctx.find_root().meta.get("database_url")))
    if migrated:
        migrate.ensure_current(engine)
    return engine


@click.group(cls=_Group)
@database_option
def cli() -> None:
    """Google Trends series with version history, refreshed and forecast."""


@cli.group(cls=_Group)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the schema to the latest revision."""
    engine = _engine(ctx, migrated=False)
    migrate.upgrade(engine)
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} is at revision {migrate.head()}")


@cli.group(cls=_Group)
def series() -> None:
    """Define, list and delete series."""


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param {pair!r} is not key=value")
        params[key.strip()] = value
    return params


@series.command("add")
@click.argument("name")
@click.option("--source", required=True, help=f"Where the data comes from: {', '.join(SOURCE_NAMES)}.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A source parameter; repeatable.")
@click.option("--exist-ok", is_flag=True, help="Succeed without change if NAME already exists.")
@database_option
@click.pass_context
def series_add(ctx: click.Context, name: str, source: str, params: tuple[str, ...], exist_ok: bool) -> None:
    """Define the series NAME (downloaded by the next refresh)."""
    engine = _engine(ctx)
    if exist_ok and any(row["name"] == name for row in _overview(engine)):
        click.echo(f"series {name} exists")
        return
    spec = add_series(engine, name, source, _parse_params(params))
    click.echo(f"added series {spec.name} (source {spec.source}, params {json.dumps(dict(spec.params))})")


def _overview(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return series_overview(conn)


@series.command("list")
@json_option
@database_option
@click.pass_context
def series_list(ctx: click.Context, as_json: bool) -> None:
    """List series with their current version's statistics."""
    rows = _overview(_engine(ctx))
    if as_json:
        _print_json(rows)
        return
    _print_table(
        [
            {
                "name": r["name"],
                "source": r["source"] + (" (synthetic)" if r["synthetic"] else ""),
                "current_version": r["current_version_id"],
                "n_values": r["n_values"],
                "first_time": r["first_time"],
                "last_time": r["last_time"],
                "versions": r["n_versions"],
            }
            for r in rows
        ],
        empty="no series yet: add one with `forecasting series add NAME --source sample`",
    )


@series.command("delete")
@click.argument("name")
@database_option
@click.pass_context
def series_delete(ctx: click.Context, name: str) -> None:
    """Delete the series NAME and all its versions."""
    delete_series(_engine(ctx), name)
    click.echo(f"deleted series {name}")


@cli.command()
@click.argument("names", nargs=-1)
@json_option
@database_option
@click.pass_context
def refresh(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Download series (all when none named) and store them with version detection.

    Exit code 1 if any series failed; the others are stored all the same.
    """
    engine = _engine(ctx)
    wanted = list(dict.fromkeys(names)) or None
    if sys.stderr.isatty():
        total = len(wanted) if wanted else len(_overview(engine))
        with click.progressbar(length=total, label="downloading", file=sys.stderr) as bar:
            results = refresh_series(engine, wanted, progress=lambda _name: bar.update(1))
    else:
        results = refresh_series(engine, wanted)
    rows = [r.as_dict() for r in results]
    if as_json:
        _print_json(rows)
    else:
        _print_table(rows, empty="no series to refresh")
        _note_synthetic(engine, [r.series for r in results])
    if any(r.outcome == "error" for r in results):
        ctx.exit(1)


@cli.command()
@click.argument("name")
@json_option
@database_option
@click.pass_context
def versions(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the versions of the series NAME, oldest first."""
    with _engine(ctx).connect() as conn:
        rows = list_versions(conn, name)
    if as_json:
        _print_json(rows)
    else:
        _print_table(rows, empty=f"series {name} has no versions yet")


@cli.command()
@click.argument("name")
@click.option("--version", "version_id", type=int, help="A version id (default: the current version).")
@json_option
@database_option
@click.pass_context
def values(ctx: click.Context, name: str, version_id: int | None, as_json: bool) -> None:
    """Print the values of the series NAME."""
    engine = _engine(ctx)
    with engine.connect() as conn:
        frame = version_values(conn, name, version_id)
    rows = frame.to_dict("records")
    if as_json:
        _print_json(rows)
    else:
        _print_table(rows, empty="no values")
        _note_synthetic(engine, [name])


def _note_synthetic(engine: Engine, names: Sequence[str]) -> None:
    """Synthetic data is labelled wherever it is shown."""
    synthetic = [r["name"] for r in _overview(engine) if r["synthetic"] and r["name"] in names]
    if synthetic:
        click.echo(f"note: synthetic data (source 'sample'): {', '.join(synthetic)}")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _print_json(rows: Iterable[dict[str, Any]]) -> None:
    click.echo(json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], indent=2))


def _print_table(rows: list[dict[str, Any]], *, empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[("" if v is None else str(_plain(v))) for v in row.values()] for row in rows]
    header = list(rows[0])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    for line in [header, *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def main() -> None:
    cli(prog_name="forecasting")
