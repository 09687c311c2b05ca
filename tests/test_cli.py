"""The ``forecasting`` command line, end to end on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from forecasting import migrate
from forecasting.cli import cli


def test_add_refresh_and_read_a_series(run) -> None:
    added = run(
        "series",
        "add",
        "coffee",
        "--source",
        "sample",
        "--param",
        "end=2024-06-02",
        "--param",
        "periods=10",
        "--param",
        "seed=3",
    )
    assert added.exit_code == 0
    assert added.output == (
        "added series coffee (source sample (synthetic), params "
        '{"end": "2024-06-02", "periods": 10, "seed": 3}): version 1 with 10 values\n'
    )
    refreshed = run("refresh", "--json")
    assert refreshed.exit_code == 0
    [row] = json.loads(refreshed.output)
    assert row == {
        "series": "coffee",
        "outcome": "unchanged",
        "version_id": 1,
        "rows_added": 0,
        "error": None,
    }

    listed = json.loads(run("series", "list", "--json").output)
    assert [
        (s["name"], s["current_version_id"], s["n_values"], s["n_versions"], s["synthetic"]) for s in listed
    ] == [("coffee", 1, 10, 1, True)]
    assert "sample (synthetic)" in run("series", "list").output

    versions = json.loads(run("versions", "coffee", "--json").output)
    assert [(v["id"], v["expired"], v["n_values"]) for v in versions] == [(1, False, 10)]

    values = json.loads(run("values", "coffee", "--json").output)
    assert len(values) == 10 and values[-1]["time"] == "2024-06-02T00:00:00"
    assert json.loads(run("values", "coffee", "--version", "1", "--json").output) == values
    text = run("values", "coffee").output.splitlines()
    assert text[0].split() == ["time", "value"]
    assert text[-1] == "note: synthetic data (source 'sample'): coffee"
    assert "note: synthetic data (source 'sample'): coffee" in run("refresh").output


def test_refresh_exits_1_when_a_series_failed_after_storing_the_others(run, csv_root: Path) -> None:
    data = csv_root / "d.csv"
    data.write_text("time,value\n2024-01-07,1\n")
    run("series", "add", "ok", "--source", "sample", "--param", "periods=3", "--define-only")
    run("series", "add", "gone", "--source", "csv", "--param", f"path={data}")
    data.unlink()
    result = run("refresh", "--json")
    assert result.exit_code == 1
    outcomes = {r["series"]: r for r in json.loads(result.output)}
    assert outcomes["ok"]["outcome"] == "created"
    assert outcomes["gone"]["outcome"] == "error" and "gone" in outcomes["gone"]["error"]


def test_series_add_define_only_stores_no_version(run) -> None:
    added = run(
        "series",
        "add",
        "a",
        "--source",
        "sample",
        "--param",
        "periods=3",
        "--param",
        "seed=3",
        "--define-only",
    )
    assert added.exit_code == 0
    assert added.output == (
        'added series a (source sample (synthetic), params {"periods": 3, "seed": 3}); '
        "download it with `forecasting refresh a`\n"
    )
    [listed] = json.loads(run("series", "list", "--json").output)
    assert (listed["name"], listed["current_version_id"], listed["n_versions"]) == ("a", None, 0)
    [row] = json.loads(run("refresh", "a", "--json").output)
    assert (row["outcome"], row["rows_added"]) == ("created", 3)


def test_series_add_keeps_nothing_when_the_download_fails(run, csv_root: Path) -> None:
    data = csv_root / "d.csv"
    data.write_text("time,value\nlast week,1\n")
    result = run("series", "add", "x", "--source", "csv", "--param", f"path={data}")
    assert result.exit_code == 1
    assert "'x'" in result.stderr and "no data rows" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert json.loads(run("series", "list", "--json").output) == []


def test_series_delete_removes_the_series_and_its_versions(run) -> None:
    run("series", "add", "a", "--source", "sample", "--param", "periods=3")
    assert run("series", "delete", "a").exit_code == 0
    assert json.loads(run("series", "list", "--json").output) == []


def test_series_add_exist_ok_is_idempotent(run) -> None:
    assert run("series", "add", "a", "--source", "sample").exit_code == 0
    assert run("series", "add", "a", "--source", "sample").exit_code == 1
    assert run("series", "add", "a", "--source", "sample", "--exist-ok").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["values", "nope"], "unknown series: nope"),
        (["versions", "nope"], "unknown series: nope"),
        (["refresh", "nope"], "unknown series: nope"),
        (["series", "delete", "nope"], "unknown series: nope"),
        (["series", "add", "x", "--source", "csv", "--param", "path=no-such.csv"], "file not found"),
        (["series", "add", "x", "--source", "csv", "--param", "path=/no/such.csv"], "is not inside the"),
        (["series", "add", "x", "--source", "sample", "--param", "periods=many"], "periods"),
        (["series", "add", "x", "--source", "sample", "--param", "periods=2.5"], "is not an integer"),
        (["series", "add", "x", "--source", "sample", "--param", "periods=0"], "periods must be >= 1"),
        (["series", "add", "x", "--source", "sample", "--param", "colour=red"], "unknown param"),
        (["series", "add", "x", "--source", "sample", "--param", "novalue"], "not key=value"),
        (["series", "add", "x", "--source", "nope"], "unknown source 'nope'; known sources: google_trends"),
        (["series", "add", " x", "--source", "sample"], "surrounding spaces"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_a_non_zero_exit(run, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output + result.stderr


def test_values_of_an_unknown_version_is_a_clear_error(run) -> None:
    run("series", "add", "a", "--source", "sample", "--param", "periods=3")
    result = run("values", "a", "--version", "99")
    assert result.exit_code == 1 and "series 'a' has no version 99" in result.stderr


def test_commands_on_an_unmigrated_database_say_how_to_fix_it_and_name_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["series", "list", "--database-url", url])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the database has no schema: run `forecasting db upgrade` (database: {url})\n"
    )


def test_unknown_names_name_the_database_without_its_password(pg_engine: Engine) -> None:
    url = pg_engine.url.set(password="s3cret")
    for args in (["values", "nope"], ["refresh", "nope", "other"], ["train", "nope"]):
        result = CliRunner().invoke(cli, ["--database-url", url.render_as_string(hide_password=False), *args])
        assert result.exit_code == 1
        assert result.stderr.endswith(f" (database: {url.render_as_string(hide_password=True)})\n")
        assert "unknown" in result.stderr and "***" in result.stderr and "s3cret" not in result.stderr


def forecasting_in(cwd: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m forecasting ARGS`` run in ``cwd`` by a user whose home is ``home``, no store configured."""
    clean = {k: v for k, v in os.environ.items() if k not in ("FORECASTING_DATABASE_URL", "XDG_DATA_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "forecasting", *args],
        capture_output=True,
        text=True,
        env={**clean, "HOME": str(home), **env},
        cwd=cwd,
        timeout=120,
    )


def test_the_default_store_is_one_file_whatever_the_working_directory(tmp_path: Path) -> None:
    home, first, second = tmp_path / "home", tmp_path / "one", tmp_path / "two" / "deeper"
    for folder in (home, first, second):
        folder.mkdir(parents=True)
    store = home / ".local" / "share" / "forecasting" / "forecasting.db"

    upgraded = forecasting_in(first, home, "db", "upgrade")
    assert upgraded.stdout == f"database sqlite:///{store} is at revision {migrate.head()}\n"
    assert forecasting_in(first, home, "series", "add", "a", "--source", "sample").returncode == 0
    listed = forecasting_in(second, home, "series", "list", "--json")
    assert [row["name"] for row in json.loads(listed.stdout)] == ["a"]
    unknown = forecasting_in(second, home, "values", "nope")
    assert unknown.stderr == f"Error: unknown series: nope (database: sqlite:///{store})\n"
    assert list(first.iterdir()) == list(second.iterdir()) == []  # no ./var/forecasting.db anywhere

    data_home = tmp_path / "data"
    elsewhere = forecasting_in(second, home, "series", "list", XDG_DATA_HOME=str(data_home))
    assert elsewhere.stderr == (
        "Error: the database has no schema: run `forecasting db upgrade` "
        f"(database: sqlite:///{data_home / 'forecasting' / 'forecasting.db'})\n"
    )


def test_database_url_option_overrides_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FORECASTING_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    override = f"sqlite:///{tmp_path / 'flag.db'}"
    assert CliRunner().invoke(cli, ["db", "upgrade", "--database-url", override]).exit_code == 0
    assert (tmp_path / "flag.db").exists() and not (tmp_path / "env.db").exists()


def test_python_m_forecasting_reports_an_unreachable_database_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "FORECASTING_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run(
        [sys.executable, "-m", "forecasting", "series", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot reach the database")
    assert len(done.stderr.strip().splitlines()) == 1
