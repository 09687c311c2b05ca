"""The ``forecasting`` command line, end to end on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from forecasting.cli import cli


def test_add_refresh_and_read_a_series(run) -> None:
    assert (
        run(
            "series",
            "add",
            "coffee",
            "--source",
            "sample",
            "--param",
            "end=2024-06-02",
            "--param",
            "periods=10",
        ).exit_code
        == 0
    )
    refreshed = run("refresh", "--json")
    assert refreshed.exit_code == 0
    [row] = json.loads(refreshed.output)
    assert row == {"series": "coffee", "outcome": "created", "version_id": 1, "rows_added": 10, "error": None}

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


def test_refresh_exits_1_when_a_series_failed_after_storing_the_others(run, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("time,value\n2024-01-07,1\n")
    run("series", "add", "ok", "--source", "sample", "--param", "periods=3")
    run("series", "add", "gone", "--source", "csv", "--param", f"path={data}")
    data.unlink()
    result = run("refresh", "--json")
    assert result.exit_code == 1
    outcomes = {r["series"]: r for r in json.loads(result.output)}
    assert outcomes["ok"]["outcome"] == "created"
    assert outcomes["gone"]["outcome"] == "error" and "gone" in outcomes["gone"]["error"]


def test_series_delete_removes_the_series_and_its_versions(run) -> None:
    run("series", "add", "a", "--source", "sample", "--param", "periods=3")
    run("refresh")
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
        (["series", "add", "x", "--source", "csv", "--param", "path=/no/such.csv"], "file not found"),
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
    run("refresh")
    result = run("values", "a", "--version", "99")
    assert result.exit_code == 1 and "series 'a' has no version 99" in result.stderr


def test_commands_on_an_unmigrated_database_say_how_to_fix_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["series", "list", "--database-url", url])
    assert result.exit_code == 1
    assert "run `forecasting db upgrade`" in result.stderr


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
