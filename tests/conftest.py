"""Shared fixtures: the recorded data beside the repository and the databases under test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from forecasting.cli import cli
from forecasting.db import make_engine
from forecasting.migrate import upgrade
from forecasting.models import Base
from forecasting.sources.csv_roots import CSV_ROOTS_SETTING
from tests import airflow_env
from tests.servers import SERVER_TTL_S, Server, TcpProxy, gunicorn_server

REPO = airflow_env.REPO
AIRFLOW = Path(sys.executable).with_name("airflow")  # the venv's CLI
AIRFLOW_HOME = airflow_env.configure()
SHARED_DATA = Path(os.environ.get("FORECASTING_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recorded data of ../shared/data; tests needing it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recorded data not found at {SHARED_DATA} (../shared is absent)")
    return SHARED_DATA


POSTGRES_URL = os.environ.get(
    "FORECASTING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/forecasting_test"
)
REQUIRE_POSTGRES = os.environ.get("FORECASTING_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """The real Postgres test database with a fresh schema built by the migrations.

    Skips where no server answers, except when FORECASTING_REQUIRE_POSTGRES=1 (CI),
    where a missing database fails the run.
    """
    engine = make_engine(POSTGRES_URL)
    try:
        _create_database_if_missing(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    except OperationalError as exc:
        message = f"Postgres not reachable at {POSTGRES_URL}: {str(exc.orig).strip().splitlines()[0]}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    upgrade(engine)
    yield engine
    engine.dispose()


def _create_database_if_missing(engine: Engine) -> None:
    maintenance = make_engine(engine.url.set(database="postgres"))
    with maintenance.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": engine.url.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{engine.url.database}"'))
    maintenance.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store on each backend: SQLite file and real Postgres."""
    if request.param == "sqlite":
        sqlite = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        upgrade(sqlite)
        yield sqlite
        sqlite.dispose()
        return
    yield request.getfixturevalue("pg_engine")


def empty_store(engine: Engine) -> Engine:
    """Remove every row of the Postgres store (schema kept, ids restarted)."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
def pg_engine(postgres_engine: Engine) -> Engine:
    """The Postgres store, emptied for this test."""
    return empty_store(postgres_engine)


@pytest.fixture
def run(engine: Engine):
    """Run the CLI against the test store, with --database-url as a user would."""
    url = engine.url.render_as_string(hide_password=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--database-url", url, *args], catch_exceptions=False)

    return invoke


SAMPLE_YAML = REPO / "examples" / "sample.yaml"
SAMPLE_MODEL = "sample-forecast"
API_TOKEN = "test-token"


def serve_sample(engine: Engine, *, windows: int = 2) -> Engine:
    """Apply ``examples/sample.yaml``, download its series and train its model once."""
    from forecasting.apply import apply_file
    from forecasting.refresh import refresh
    from forecasting.training import train_model

    apply_file(engine, SAMPLE_YAML)
    refresh(engine)
    train_model(engine, SAMPLE_MODEL, windows=windows)
    return engine


@pytest.fixture
def served(engine: Engine) -> Engine:
    """A store on each backend with the sample model trained and ready to serve."""
    return serve_sample(engine)


@pytest.fixture
def app_for() -> Iterator:
    """Build the Flask app on a store, with the test token (override settings as keywords).

    Every app built is closed after the test: background cache checks finish before
    the store they read is emptied, and the app's connection pool is disposed.
    """
    from serving import close, create_app
    from serving.settings import Settings

    built = []

    def build(engine: Engine, **overrides):
        settings = {
            "database_url": engine.url.render_as_string(hide_password=False),
            "api_token": API_TOKEN,
            "csv_roots": os.environ.get(CSV_ROOTS_SETTING),  # as the test set it (csv_root), as from_env
        }
        app = create_app(Settings(**{**settings, **overrides}))
        built.append(app)
        return app

    yield build
    for app in built:
        close(app)


@pytest.fixture
def csv_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FORECASTING_CSV_ROOTS is the test's tmp_path, for every component the test builds after it."""
    monkeypatch.setenv(CSV_ROOTS_SETTING, str(tmp_path))
    return tmp_path


@pytest.fixture
def app(engine: Engine, app_for):
    """The app on the test's store (each backend), with the test token."""
    return app_for(engine)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    """Headers that authorise a write."""
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database (SQLite in a throwaway AIRFLOW_HOME), migrated once."""
    subprocess.run([AIRFLOW, "db", "migrate"], check=True, capture_output=True, timeout=300)
    return AIRFLOW_HOME


# The service as deployed, one per test module: the sample model trained once on Postgres, reached
# through a TCP proxy the tests can stop or freeze, served by a two-worker gunicorn.
@pytest.fixture(scope="module")
def store(postgres_engine: Engine) -> Engine:
    """The sample model trained once: a module's tests share one server, whose start is the slow part."""
    return serve_sample(empty_store(postgres_engine), windows=0)


@pytest.fixture(scope="module")
def proxy(store: Engine) -> Iterator[TcpProxy]:
    proxy = TcpProxy((store.url.host or "127.0.0.1", store.url.port or 5432)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def server(store: Engine, proxy: TcpProxy) -> Iterator[Server]:
    url = store.url.set(port=proxy.port).render_as_string(hide_password=False)
    with gunicorn_server(url, cache_ttl_s=SERVER_TTL_S) as server:
        yield server
