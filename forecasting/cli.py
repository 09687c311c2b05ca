"""The ``forecasting`` command line: database, series, refresh, configs, training, forecasts.

Command and option names are a public interface. Errors the user can fix print one
line on stderr and exit non-zero; they never show a traceback. Errors about the
database or a missing name end with the database looked in (password hidden).

Each command imports the domain modules it uses when it runs: the top of this module
loads neither SQLAlchemy, pandas nor LightGBM, so ``forecasting --help`` starts in
a fraction of a second and ``series list`` never loads LightGBM
(tests/test_cli_imports.py checks both).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from forecasting.errors import DatabaseNotReady, ForecastingError, InvalidInput, NotFound
from forecasting.limits import DEFAULT_WINDOWS

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from forecasting.sources import DataSource


class _Group(click.Group):
    """Turns domain and database errors into one line on stderr and exit code 1.

    Arguments are checked before any command sees them: undecodable bytes in argv arrive
    as lone surrogates, which no database and no output can encode, even in a lookup.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from forecasting.errors import shown
        from forecasting.inputs import text_problem

        for position, arg in enumerate(args, start=1):
            problem = text_problem(arg)
            if problem:
                raise click.UsageError(f"argument {position} {shown(arg)} {problem}", ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DatabaseNotReady, NotFound) as exc:
            raise click.ClickException(_naming_database(ctx, str(exc))) from None
        except ForecastingError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            detail = _database_error(exc)
            if detail is None:
                raise
            raise click.ClickException(_naming_database(ctx, f"database error: {detail}")) from None


def _database_error(exc: Exception) -> str | None:
    """The first line of a SQLAlchemy error's cause; None for any other exception.

    Only a command that loaded SQLAlchemy can raise its errors, so it is looked up in
    ``sys.modules`` rather than imported for every command.
    """
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.SQLAlchemyError):
        return None
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _naming_database(ctx: click.Context, message: str) -> str:
    """``message`` with the database the command looked in, if it opened one."""
    database = ctx.find_root().meta.get("database")
    return f"{message} (database: {database})" if database else message


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
        help=(
            "Database URL (default: $FORECASTING_DATABASE_URL, else SQLite at "
            "$XDG_DATA_HOME/forecasting/forecasting.db, XDG_DATA_HOME being ~/.local/share by default)."
        ),
    )(command)


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)


def _engine(ctx: click.Context, *, migrated: bool = True) -> Engine:
    """The command's store, remembered for error messages; checked to be migrated unless told not to."""
    from forecasting import migrate
    from forecasting.db import database_url, make_engine, shown

    root = ctx.find_root()
    engine = make_engine(database_url(root.meta.get("database_url")))
    root.meta["database"] = shown(engine.url)
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
    from forecasting import migrate

    engine = _engine(ctx, migrated=False)
    migrate.upgrade(engine)
    click.echo(f"database {ctx.find_root().meta['database']} is at revision {migrate.head()}")


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


class _SourceOption(click.Option):
    """``--source``, whose help lists the sources: looked up when shown, as the sources load pandas."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from forecasting.sources import SOURCE_NAMES

        self.help = f"Where the data comes from: {', '.join(SOURCE_NAMES)}."
        return super().get_help_record(ctx)


@series.command("add")
@click.argument("name")
@click.option("--source", required=True, cls=_SourceOption)
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A source parameter; repeatable.")
@click.option("--define-only", is_flag=True, help="Only define NAME; the next refresh downloads it.")
@click.option("--exist-ok", is_flag=True, help="Succeed without change if NAME already exists.")
@database_option
@click.pass_context
def series_add(
    ctx: click.Context, name: str, source: str, params: tuple[str, ...], define_only: bool, exist_ok: bool
) -> None:
    """Define the series NAME and store its first download.

    The source checks the params first. If the download fails, nothing is kept.
    """
    from forecasting.refresh import add_and_download
    from forecasting.series import add_series

    engine = _engine(ctx)
    if exist_ok and any(row["name"] == name for row in _overview(engine)):
        click.echo(f"series {name} exists")
        return
    if define_only:
        add_series(engine, name, source, _parse_params(params), _sources())
        click.echo(f"added series {_described(engine, name)}; download it with `forecasting refresh {name}`")
        return
    stored = add_and_download(engine, name, source, _parse_params(params), sources=_sources())
    described = _described(engine, name)
    click.echo(f"added series {described}: version {stored.version_id} with {stored.rows_added} values")


def _sources() -> dict[str, DataSource]:
    """The sources as the CLI configures them: CSV files are read under $FORECASTING_CSV_ROOTS, else
    under the working directory; a relative path starts at the working directory."""
    from forecasting.sources.csv_file import CsvSource
    from forecasting.sources.csv_roots import env_csv_roots

    return {CsvSource.name: CsvSource(env_csv_roots(cwd_fallback=True))}


def _described(engine: Engine, name: str) -> str:
    """The series as stored: name, source (labelled if synthetic) and normalised params."""
    from forecasting.series import series_overview

    with engine.connect() as conn:
        [row] = series_overview(conn, name)
    source = row["source"] + (" (synthetic)" if row["synthetic"] else "")
    return f"{name} (source {source}, params {json.dumps(row['params'], sort_keys=True)})"


def _overview(engine: Engine) -> list[dict[str, Any]]:
    from forecasting.series import series_overview

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
    from forecasting.series import delete_series

    delete_series(_engine(ctx), name)
    click.echo(f"deleted series {name}")


@cli.command()
@click.argument("names", nargs=-1)
@click.option(
    "--model", "models_", multiple=True, metavar="MODEL", help="Also the series MODEL uses; repeatable."
)
@json_option
@database_option
@click.pass_context
def refresh(ctx: click.Context, names: tuple[str, ...], models_: tuple[str, ...], as_json: bool) -> None:
    """Download series (all when none named) and store them with version detection.

    Exit code 1 if any series failed; the others are stored all the same.
    """
    from forecasting.configs import model_series
    from forecasting.refresh import refresh as refresh_series

    engine = _engine(ctx)
    if models_:
        with engine.connect() as conn:
            names += tuple(name for model in models_ for name in model_series(conn, model))
    wanted = list(dict.fromkeys(names)) or None
    if sys.stderr.isatty():
        total = len(wanted) if wanted else len(_overview(engine))
        with click.progressbar(length=total, label="downloading", file=sys.stderr) as bar:
            results = refresh_series(engine, wanted, sources=_sources(), progress=lambda _name: bar.update(1))
    else:
        results = refresh_series(engine, wanted, sources=_sources())
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
    from forecasting.series import list_versions

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
    from forecasting.series import version_values

    engine = _engine(ctx)
    with engine.connect() as conn:
        _, frame = version_values(conn, name, version_id)
    rows = frame.to_dict("records")
    if as_json:
        _print_json(rows)
    else:
        _print_table(rows, empty="no values")
        _note_synthetic(engine, [name])


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@database_option
@click.pass_context
def apply(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Create or update the series, configs and models described in FILE (YAML).

    Re-applying an unchanged file changes nothing.
    """
    from forecasting.apply import apply_file

    results = [r.as_dict() for r in apply_file(_engine(ctx), file, _sources())]
    if as_json:
        _print_json(results)
        return
    _print_table(results, empty=f"{file} describes nothing")
    changed = sum(r["action"] != "unchanged" for r in results)
    click.echo(f"{changed} of {len(results)} item(s) created or updated")


def _progress(message: str) -> None:
    click.echo(message, err=True)


def windows_option(command: Callable) -> Callable:
    return click.option(
        "--windows",
        type=click.IntRange(min=0),
        default=DEFAULT_WINDOWS,
        show_default=True,
        help="Rolling-origin backtest windows (0 skips the backtest).",
    )(command)


@cli.command()
@click.argument("model")
@windows_option
@click.option("--gate", is_flag=True, help="Refuse to serve the version if its backtest MASE is >= 1.")
@json_option
@database_option
@click.pass_context
def train(ctx: click.Context, model: str, windows: int, gate: bool, as_json: bool) -> None:
    """Backtest, train and register a new version of MODEL on the current data.

    Exit code 1 if the version is not ready (failed its load-back check or the gate).
    """
    from forecasting.training import train_model

    result = train_model(_engine(ctx), model, windows=windows, gate=gate, progress=_progress)
    if as_json:
        _print_json({**result.as_dict(), "backtest": result.backtest.as_dict() if result.backtest else None})
    else:
        if result.backtest:
            click.echo(result.backtest.report())
            click.echo()
        click.echo(
            f"model {model} version {result.version_id}: {result.status} "
            f"({result.rows} training rows, data versions {json.dumps(result.data_versions)})"
        )
    if result.status != "ready":
        raise click.ClickException(f"version {result.version_id} is {result.status}: {result.reason}")


@cli.command("backtest")
@click.argument("model")
@windows_option
@json_option
@database_option
@click.pass_context
def backtest_command(ctx: click.Context, model: str, windows: int, as_json: bool) -> None:
    """Backtest MODEL's configs on the current data; registers nothing."""
    from forecasting.training import run_backtest

    if windows < 1:
        raise InvalidInput("--windows must be >= 1 for a backtest")
    result = run_backtest(_engine(ctx), model, windows=windows, progress=_progress)
    if as_json:
        _print_json(result.as_dict())
        return
    click.echo(result.report())
    click.echo(f"cut-offs: {', '.join(c.date().isoformat() for c in result.cutoffs)}")


@cli.command()
@click.argument("model")
@click.option(
    "--history",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with series,time,value that replaces those series' stored values (a what-if forecast).",
)
@json_option
@database_option
@click.pass_context
def predict(ctx: click.Context, model: str, history: Path | None, as_json: bool) -> None:
    """Forecast every target of MODEL with its served version and the current data."""
    from forecasting.inference import forecast

    engine = _engine(ctx)
    supplied = _read_history(history) if history else None
    result = forecast(engine, model, supplied)
    if as_json:
        _print_json(result)
        return
    _print_table(
        [
            {
                "series": f["series"],
                "last_date": f["last_date"][:10],
                "last_value": f["last_value"],
                "horizon": f["horizon"],
                "target_date": f["target_date"][:10],
                "prediction": f["prediction"],
                "lower": f["lower"],
                "upper": f["upper"],
                "predicted_delta": f["predicted_delta"],
            }
            for f in result["forecasts"]
        ],
        empty="no forecasts",
    )
    level = result["interval_level"]
    click.echo(
        f"model {model} version {result['model_version']}; "
        f"data versions {json.dumps(result['data_versions'])}"
        + (f"; interval {level:.0%} (conformal, from the backtest)" if level else "")
    )
    _note_synthetic(engine, list(result["data_versions"]))


def _read_history(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None


@cli.command()
@click.argument("model")
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV file to write."
)
@database_option
@click.pass_context
def features(ctx: click.Context, model: str, output: Path) -> None:
    """Write MODEL's exact training matrix (time, series, features, y) on the current data."""
    from forecasting.features import build_training, make_panel
    from forecasting.training import load_model_data

    spec, data = load_model_data(_engine(ctx), model)
    matrix = build_training(make_panel(data), spec.preprocessing)
    output.parent.mkdir(parents=True, exist_ok=True)
    matrix.to_csv(output, index=False)
    click.echo(f"wrote {len(matrix)} rows x {matrix.shape[1]} columns to {output}")


@cli.command()
@json_option
@database_option
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List models with their configs, served version and its backtest MASE."""
    from forecasting.registry import models_overview

    with _engine(ctx).connect() as conn:
        rows = models_overview(conn)
    if as_json:
        _print_json(rows)
    else:
        _print_table(rows, empty="no models yet: define one with `forecasting apply FILE.yaml`")


@cli.command("model-versions")
@click.argument("model")
@json_option
@database_option
@click.pass_context
def model_versions_command(ctx: click.Context, model: str, as_json: bool) -> None:
    """List the versions of MODEL, newest first; the served one is marked."""
    from forecasting.registry import model_versions

    with _engine(ctx).connect() as conn:
        rows = model_versions(conn, model)
    if as_json:
        _print_json(rows)
        return
    _print_table(
        [{k: v for k, v in row.items() if k != "data_versions"} for row in rows],
        empty=f"model {model} has no versions yet: run `forecasting train {model}`",
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help="Port.")
@click.option("--debug", is_flag=True, help="Reload on code changes and show tracebacks in the browser.")
@database_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, debug: bool) -> None:
    """Run the web service with Flask's development server (production: gunicorn, see serving/).

    Reads the service's settings from the environment, like gunicorn does.
    """
    try:
        from serving import create_app
        from serving.settings import Settings
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in ("serving", "forecasting"):
            raise
        raise click.ClickException(
            f"the service needs the serving requirements ({exc.name} is not installed): "
            "pip install -r requirements-serving.txt"
        ) from None
    settings = Settings.from_env()
    url = ctx.find_root().meta.get("database_url")
    if url:
        settings = replace(settings, database_url=url)
    create_app(settings).run(host=host, port=port, debug=debug)


def _note_synthetic(engine: Engine, names: Sequence[str]) -> None:
    """Synthetic data is labelled wherever it is shown."""
    synthetic = [r["name"] for r in _overview(engine) if r["synthetic"] and r["name"] in names]
    if synthetic:
        click.echo(f"note: synthetic data (source 'sample'): {', '.join(synthetic)}")


def _print_json(rows: Any) -> None:
    from forecasting.tables import plain

    click.echo(json.dumps(rows, indent=2, default=plain))


def _print_table(rows: list[dict[str, Any]], *, empty: str) -> None:
    from forecasting.tables import format_table

    click.echo(format_table(rows) if rows else empty)


def main() -> None:
    cli(prog_name="forecasting")
