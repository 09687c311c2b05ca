"""CSV files come only from the configured data directories (issue 13, security 1).

A series' path is chosen by whoever defines the series, with the write token or a YAML
file, not by whoever runs the service. So a file is read only if its real path lies
inside ``FORECASTING_CSV_ROOTS``; the answer for a path outside is the same whether a
file is there or not; files are bounded in size before and while they are read; no
error quotes a file. Every way in is tested: the domain, the CLI, ``apply`` and the API
(Airflow's tasks: tests/test_airflow_connections.py).
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import Engine

from forecasting.apply import apply_document
from forecasting.errors import InvalidInput, SourceError
from forecasting.limits import MAX_CSV_BYTES
from forecasting.refresh import refresh
from forecasting.series import add_series, series_overview
from forecasting.sources.base import SeriesSpec
from forecasting.sources.csv_file import CsvSource, TooLarge, read_trends_csv
from forecasting.sources.csv_roots import CSV_ROOTS_SETTING, csv_roots

SECRET_WORDS = ("hunter2", "password", "s3cret", "swordfish", "Week")
SECRET = "Week,hunter2,password\n2024-01-07,1,2\n2024-01-14,s3cret,4\nswordfish,3,5\n"
NUMBERS = "time,value\n2024-01-07,1\n2024-01-14,2\n"


@pytest.fixture(autouse=True)
def roots_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets FORECASTING_CSV_ROOTS itself (csv_root) or means it unset."""
    monkeypatch.delenv(CSV_ROOTS_SETTING, raising=False)


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory beside the root, with a readable numeric file: what must not be read."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.csv").write_text(NUMBERS)
    return folder


def reading(root: Path) -> CsvSource:
    return CsvSource(csv_roots(str(root)))


def refusal(root: Path, path: str) -> str:
    with pytest.raises(InvalidInput) as refused:
        reading(root).validate_params("s", {"path": path})
    return str(refused.value)


def outside_message(path: str, root: Path, series: str = "s") -> str:
    return (
        f"series {series!r}: {path} is not inside the directories CSV files may be read from "
        f"(FORECASTING_CSV_ROOTS: {root})"
    )


# The rule, in the domain


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/shadow", "~/.bashrc", "/proc/self/environ"])
def test_system_files_are_refused(tmp_path: Path, path: str) -> None:
    assert refusal(tmp_path, path) == outside_message(path, tmp_path)


def test_a_file_outside_is_refused_alike_whether_it_exists_or_not(tmp_path: Path, outside: Path) -> None:
    existing, missing = outside / "secret.csv", outside / "missing.csv"

    answers = {refusal(tmp_path, str(path)).replace(path.name, "<file>") for path in (existing, missing)}

    assert answers == {outside_message(str(outside / "<file>"), tmp_path)}


@pytest.mark.parametrize("escape", ["../{outside}/secret.csv", "{root}/../{outside}/secret.csv", "a/../../x"])
def test_dot_dot_cannot_leave_the_roots(tmp_path: Path, outside: Path, escape: str) -> None:
    path = escape.format(root=tmp_path, outside=outside.name)

    assert refusal(tmp_path, path) == outside_message(path, tmp_path)


def test_a_symlink_inside_a_root_to_a_file_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "innocent.csv").symlink_to(outside / "secret.csv")
    (tmp_path / "data").symlink_to(outside, target_is_directory=True)

    for path in (tmp_path / "innocent.csv", tmp_path / "data" / "secret.csv"):
        assert refusal(tmp_path, str(path)) == outside_message(str(path), tmp_path)


def test_a_symlink_inside_a_root_to_a_file_inside_is_read_and_stored_as_the_file(tmp_path: Path) -> None:
    (tmp_path / "week42.csv").write_text(NUMBERS)
    (tmp_path / "current.csv").symlink_to(tmp_path / "week42.csv")

    params = reading(tmp_path).validate_params("s", {"path": str(tmp_path / "current.csv")})

    assert params["path"] == str((tmp_path / "week42.csv").resolve())


def test_a_stored_path_is_checked_again_by_each_download(tmp_path: Path, outside: Path) -> None:
    """A file replaced by a symlink to a file outside after the series was defined is not followed."""
    path = tmp_path / "data.csv"
    path.write_text(NUMBERS)
    source = reading(tmp_path)
    params = source.validate_params("s", {"path": str(path)})
    path.unlink()
    path.symlink_to(outside / "secret.csv")

    with pytest.raises(SourceError) as refused:
        source.download(SeriesSpec(name="s", source="csv", params=params))

    assert str(refused.value) == outside_message(str(path), tmp_path)


def test_every_root_of_the_setting_is_one_and_the_rest_are_not(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "data.csv").write_text(NUMBERS)
    source = CsvSource(csv_roots(f"{tmp_path / 'a'}::{tmp_path / 'b'}"))

    assert source.validate_params("s", {"path": str(tmp_path / "b" / "data.csv")})["less_than_one"] == 0.5
    with pytest.raises(InvalidInput, match=f"CSV_ROOTS: {tmp_path / 'a'}:{tmp_path / 'b'}\\)$"):
        source.validate_params("s", {"path": str(outside / "secret.csv")})


def test_relative_paths_start_at_the_first_root_outside_the_cli(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(NUMBERS)

    assert reading(tmp_path).validate_params("s", {"path": "data.csv"})["path"] == str(tmp_path / "data.csv")


def test_unset_roots_read_nothing_and_say_how_to_set_them(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(NUMBERS)

    with pytest.raises(InvalidInput) as refused:
        CsvSource().validate_params("s", {"path": str(tmp_path / "data.csv")})

    assert str(refused.value) == (
        "series 's': reading CSV files is turned off here: set FORECASTING_CSV_ROOTS to the directories "
        "they may be read from, separated by ':' (or send the file's content: "
        "POST /api/timeseries/<name>/upload)"
    )


def test_fifos_and_directories_are_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")

    for path in (tmp_path / "pipe.csv", tmp_path):
        assert refusal(tmp_path, str(path)) == f"series 's': {path} is not a regular file"


# Size


def test_a_512_mb_file_is_refused_at_once_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as file:
        file.truncate(512 * 1024 * 1024)  # sparse: no disk, but its size says 512 MiB
    source = reading(tmp_path)
    expected = f"{path}: the file is larger than {MAX_CSV_BYTES} bytes, the most a CSV file may hold"

    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as at_definition:
        source.validate_params("s", {"path": str(path)})
    with pytest.raises(SourceError) as at_download:
        source.download(SeriesSpec(name="s", source="csv", params={"path": str(path)}))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert str(at_definition.value) == f"series 's': {expected}"
    assert str(at_download.value) == f"series 's': {expected}"
    assert seconds < 0.5 and peak < 1024 * 1024, (seconds, peak)


def test_a_file_that_grows_past_the_limit_while_it_is_read_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "growing.csv"
    path.write_text(NUMBERS)
    blank = " " * 100_000 + "\n"  # blank lines: parsed until the bound stops them

    with reading(tmp_path).roots.open(str(path)) as file:  # small when opened: passes the size check
        with path.open("a") as writer:
            writer.write(blank * (MAX_CSV_BYTES // len(blank) + 1))
        with pytest.raises(TooLarge, match=f"larger than {MAX_CSV_BYTES} bytes"):
            read_trends_csv(file)


def test_content_over_the_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TooLarge):
        read_trends_csv(NUMBERS.encode() + b" " * MAX_CSV_BYTES)


# No file content in any error


@pytest.mark.parametrize(
    ("content", "params"),
    [
        (SECRET, {}),  # several columns
        (SECRET, {"column": "nope"}),
        (SECRET, {"column": "hunter2"}),  # a value that is no number
        (SECRET, {"column": "password"}),  # a first cell that is no date
        ("Week,hunter2\n2024-01-07,1\n2024-01-07,2\n", {}),  # a date twice
        ("Week,hunter2\n2024-01-07,1,password\n", {}),  # a row longer than the header
        ("Week,hunter2\n2024-01-07," + "s3cret" * 30_000 + "\n", {}),  # a field over csv's limit
        ("Week,hunter2\n2024-01-07,\xff s3cret\n", {}),  # not UTF-8 (written as latin-1)
        ("Week,hunter2\n2024-01-07,1\n", {"date_format": "%d.%m.%Y"}),  # no row in that format
        ("Week,hunter2\n07.01.2024 +0100,1\n14.01.2024 +0200,s3cret\n", {"date_format": "%d.%m.%Y %z"}),
    ],
)
def test_errors_never_quote_the_file(tmp_path: Path, content: str, params: dict[str, str]) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content.encode("latin-1" if "\xff" in content else "utf-8"))
    source = reading(tmp_path)
    try:
        clean = source.validate_params("s", {"path": str(path), **params})
        source.download(SeriesSpec(name="s", source="csv", params=clean))
    except (InvalidInput, SourceError) as error:
        message = str(error).replace(str(path), "<path>")
    else:
        pytest.fail("the file should be refused")

    quoted = message.replace(f"column {params.get('column')!r}", "")  # the caller's own words
    assert message.startswith("series 's': <path>: ")
    assert not any(word in quoted for word in SECRET_WORDS), message


# The CLI: under its working directory unless FORECASTING_CSV_ROOTS says otherwise


def test_the_cli_reads_under_its_working_directory_by_default(
    run, engine: Engine, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data.csv").write_text(NUMBERS)
    monkeypatch.chdir(tmp_path)

    added = run("series", "add", "ok", "--source", "csv", "--param", "path=data.csv")
    refused = [
        run("series", "add", "x", "--source", "csv", "--param", f"path={path}")
        for path in ("/etc/passwd", f"../{outside.name}/secret.csv", str(outside / "missing.csv"))
    ]

    assert added.exit_code == 0, added.output
    with engine.connect() as conn:
        assert [row["params"]["path"] for row in series_overview(conn)] == [str(tmp_path / "data.csv")]
    for result in refused:
        assert result.exit_code == 1
        assert "is not inside the directories CSV files may be read from (the working directory, as " in (
            result.stderr
        )
        assert f"FORECASTING_CSV_ROOTS is unset: {tmp_path})" in result.stderr


def test_the_cli_reads_only_under_forecasting_csv_roots_when_set(
    run, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data.csv").write_text(NUMBERS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CSV_ROOTS_SETTING, str(outside))

    in_cwd = run("series", "add", "x", "--source", "csv", "--param", "path=data.csv")
    in_root = run("series", "add", "y", "--source", "csv", "--param", f"path={outside / 'secret.csv'}")

    assert in_cwd.exit_code == 1
    assert in_cwd.stderr.strip().endswith(
        f"data.csv is not inside the directories CSV files may be read from (FORECASTING_CSV_ROOTS: "
        f"{outside})"
    )
    assert in_root.exit_code == 0, in_root.output


def test_the_cli_refresh_checks_the_roots_again(
    run, engine: Engine, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A series defined from one directory is not read by a refresh run from another."""
    (tmp_path / "data.csv").write_text(NUMBERS)
    monkeypatch.chdir(tmp_path)
    assert run("series", "add", "ok", "--source", "csv", "--param", "path=data.csv").exit_code == 0
    monkeypatch.chdir(outside)

    result = run("refresh", "--json")

    assert result.exit_code == 1
    [row] = json.loads(result.output)
    assert row["outcome"] == "error" and "is not inside the directories" in row["error"]


def test_apply_refuses_paths_outside_and_reads_relative_paths_from_the_working_directory(
    run, engine: Engine, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data.csv").write_text(NUMBERS)
    (tmp_path / "config").mkdir()
    monkeypatch.chdir(tmp_path)

    def apply(path: str):
        document = {"series": [{"name": "s", "source": "csv", "params": {"path": path}}]}
        (tmp_path / "config" / "series.yaml").write_text(json.dumps(document))
        return run("apply", "config/series.yaml")

    refused = [apply(path) for path in ("/etc/passwd", f"../{outside.name}/secret.csv", "../../etc/passwd")]
    applied = apply("data.csv")

    for result in refused:
        assert result.exit_code == 1
        assert "config/series.yaml: series[0] ('s'): " in result.stderr
        assert "is not inside the directories CSV files may be read from" in result.stderr
    assert applied.exit_code == 0, applied.output
    with engine.connect() as conn:
        assert [row["params"]["path"] for row in series_overview(conn)] == [str(tmp_path / "data.csv")]


def test_apply_and_refresh_in_the_domain_read_forecasting_csv_roots(
    engine: Engine, csv_root: Path, outside: Path
) -> None:
    (csv_root / "data.csv").write_text(NUMBERS)

    with pytest.raises(InvalidInput, match="is not inside the directories"):
        apply_document(
            engine, {"series": [{"name": "s", "source": "csv", "params": {"path": "/etc/passwd"}}]}
        )
    add_series(engine, "s", "csv", {"path": str(csv_root / "data.csv")})

    assert [r.outcome for r in refresh(engine)] == ["created"]


# The service: under FORECASTING_CSV_ROOTS, and none without it


def test_the_service_without_csv_roots_reads_no_file_and_names_the_setting(
    engine: Engine, app_for, auth, tmp_path: Path
) -> None:
    (tmp_path / "data.csv").write_text(NUMBERS)
    add_series(engine, "defined", "csv", {"path": str(tmp_path / "data.csv")}, {"csv": reading(tmp_path)})
    client = app_for(engine).test_client()

    created = client.post(
        "/api/timeseries",
        json={"name": "x", "source": "csv", "params": {"path": str(tmp_path / "data.csv")}},
        headers=auth,
    )
    refreshed = client.post("/api/timeseries/defined/update-values", headers=auth)

    assert created.status_code == 404  # no file may be read: an unknown reference
    assert "set FORECASTING_CSV_ROOTS to the directories" in created.get_json()["error"]
    assert refreshed.status_code == 502
    assert "set FORECASTING_CSV_ROOTS to the directories" in refreshed.get_json()["error"]


def test_the_service_answers_404_for_files_outside_alike_whether_they_exist_or_not(
    engine: Engine, app_for, auth, csv_root: Path, outside: Path
) -> None:
    client = app_for(engine).test_client()

    def create(path: str):
        body = {"name": "x", "source": "csv", "params": {"path": path}}
        response = client.post("/api/timeseries", json=body, headers=auth)
        return response.status_code, response.get_json()["error"]

    secret = str(outside / "secret.csv")
    existing = create(secret)
    (outside / "secret.csv").unlink()
    missing = create(secret)

    assert existing == missing == (404, outside_message(secret, csv_root, "x"))
    assert create("/etc/passwd") == (404, outside_message("/etc/passwd", csv_root, "x"))
    assert create("../../../../../../etc/passwd")[0] == 404
    missing_inside = csv_root / "missing.csv"
    assert create(str(missing_inside)) == (404, f"series 'x': file not found: {missing_inside}")
    assert create(".")[0] == 404  # the root itself: no regular file
    assert client.get("/api/timeseries").get_json() == []
