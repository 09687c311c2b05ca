"""`make bench` on a fresh machine: the refresh benchmark creates its Postgres database when missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, text

from forecasting.db import make_engine
from tests.conftest import POSTGRES_URL, REPO


def database_exists(url: URL) -> bool:
    maintenance = make_engine(url.set(database="postgres"))
    try:
        with maintenance.connect() as conn:
            found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
    finally:
        maintenance.dispose()
    return bool(found)


def drop_database(url: URL) -> None:
    maintenance = make_engine(url.set(database="postgres"))
    try:
        with maintenance.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        maintenance.dispose()


def bench(script: str, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Run ``bench/SCRIPT`` with ARGS as `make bench` does."""
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture
def missing_database(postgres_engine) -> Iterator[URL]:
    """A database name of this test run's own that does not exist (dropped again afterwards)."""
    url = postgres_engine.url.set(database=f"{postgres_engine.url.database}_bench")
    drop_database(url)
    assert not database_exists(url)
    yield url
    drop_database(url)


def test_the_refresh_benchmark_creates_its_missing_database(missing_database: URL) -> None:
    url = missing_database.render_as_string(hide_password=False)
    args = ["--series", "4", "--points", "30", "--repeat", "1", "--database-url", url]
    done = bench("refresh_bench.py", *args, timeout_s=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert database_exists(missing_database)
    assert "Refresh benchmark: 4 series x 30 weeks" in done.stdout


def test_an_unreachable_postgres_is_one_line_naming_the_url_and_the_flag() -> None:
    url = make_engine(POSTGRES_URL).url.set(host="127.0.0.1", port=1)  # nothing listens on port 1
    done = bench("refresh_bench.py", "--database-url", str(url))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "127.0.0.1:1" in done.stderr and "--database-url" in done.stderr


def test_the_serving_benchmark_without_wrk_stops_at_once_saying_how_to_install_it(tmp_path) -> None:
    missing = tmp_path / "wrk"
    done = bench("serving_bench.py", "--wrk", str(missing), timeout_s=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "building the store" not in done.stderr
    assert f"wrk not found at {missing}" in done.stderr and "apt-get install wrk" in done.stderr
