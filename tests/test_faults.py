"""Faults: a database that stops answering, concurrent trains of one model, inline work past its time.

The database is frozen through a TCP proxy (tests/servers.py): connections stay open and
nothing is answered, as with a hung server or a network that drops packets; TCP alone
never notices that, so only the service's own limits can.
"""

from __future__ import annotations

import re
import runpy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests
import responses
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from forecasting.apply import apply_document
from forecasting.db import SERVICE_TIMEOUTS, DatabaseTimeouts, make_engine
from forecasting.deadline import Deadline
from forecasting.errors import DatabaseUnavailable, InvalidInput, RateLimited
from forecasting.registry import model_versions
from forecasting.sources.base import SeriesSpec
from forecasting.sources.google_trends import GoogleTrendsSettings, GoogleTrendsSource
from serving.settings import Settings
from tests.conftest import API_TOKEN, SAMPLE_MODEL
from tests.servers import CONFIG, SERVER_TTL_S, Server, TcpProxy


@pytest.mark.postgres
def test_the_service_and_the_command_line_get_their_own_database_time_limits(postgres_engine: Engine) -> None:
    server = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    client = (
        "connect_timeout",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    )
    limits = {}
    for component, timeouts in (("service", SERVICE_TIMEOUTS), ("cli", None)):
        engine = make_engine(postgres_engine.url, timeouts)
        with engine.connect() as conn:
            parameters = conn.connection.driver_connection.info.get_parameters()
            limits[component] = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in server]
            limits[component] += [parameters[name] for name in client]
        engine.dispose()
    assert limits["service"] == ["10s", "5s", "30s", "2", "5", "2", "4", "15000"]
    assert limits["cli"] == ["0", "0", "10min", "5", "20", "10", "4", "60000"]


def test_database_time_limits_come_from_the_environment() -> None:
    env = {"FORECASTING_DB_STATEMENT_TIMEOUT": "2.5", "FORECASTING_DB_IDLE_IN_TRANSACTION_TIMEOUT": "0"}
    assert SERVICE_TIMEOUTS.with_env(env) == replace(
        SERVICE_TIMEOUTS, statement_s=2.5, idle_in_transaction_s=0
    )
    assert DatabaseTimeouts().with_env({}) == DatabaseTimeouts()
    for bad in ("soon", "-1", "inf"):
        with pytest.raises(InvalidInput, match="FORECASTING_DB_CONNECT_TIMEOUT"):
            DatabaseTimeouts().with_env({"FORECASTING_DB_CONNECT_TIMEOUT": bad})


@pytest.mark.postgres
def test_a_statement_gives_up_on_a_server_that_stops_answering(postgres_engine: Engine) -> None:
    url = postgres_engine.url
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    engine = make_engine(url.set(port=proxy.port), replace(SERVICE_TIMEOUTS, statement_s=1.0))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            proxy.freeze()
            started = time.perf_counter()
            with pytest.raises(OperationalError, match="no answer from the database server within 3 s"):
                conn.execute(text("SELECT 2"))
            waited = time.perf_counter() - started
        assert 3 <= waited < 4  # the statement limit and the grace for the server's own answer
        started = time.perf_counter()
        with pytest.raises(DatabaseUnavailable), engine.connect():  # what comes next fails at once
            pass
        assert time.perf_counter() - started < 0.1
    finally:
        proxy.stop()
        engine.dispose()


@pytest.mark.postgres
def test_a_statement_the_server_runs_too_long_is_cancelled(postgres_engine: Engine) -> None:
    engine = make_engine(postgres_engine.url, replace(SERVICE_TIMEOUTS, statement_s=1.0))
    try:
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
        assert time.perf_counter() - started < 2
        with engine.connect() as conn:  # a cancelled statement is no outage
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


PREDICT = f"/api/model/{SAMPLE_MODEL}/predict"
DATA_PATHS = (
    "/api/timeseries",
    "/readyz",
    "/api/model",
    f"/api/model/{SAMPLE_MODEL}/versions",
    "/api/timeseries/sample-coffee/latest-values",
)
FAILS_WITHIN_S = 10.0  # a data request on a frozen database answers 503 within this
ANSWERS_WITHIN_S = 1.0  # /healthz and a held forecast, frozen database or not


def get(url: str, timeout_s: float = 30) -> tuple[float, int, dict | None]:
    """``(seconds, status, JSON body)`` of a GET on a new connection."""
    started = time.perf_counter()
    response = requests.get(url, timeout=timeout_s, headers={"Connection": "close"})
    elapsed = time.perf_counter() - started
    is_json = response.headers.get("Content-Type") == "application/json"
    return elapsed, response.status_code, response.json() if is_json else None


def concurrently(urls: list[str]) -> list[tuple[float, int, dict | None]]:
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(get, urls))


@pytest.mark.postgres
def test_data_requests_fail_fast_while_healthz_and_held_forecasts_answer(
    server: Server, proxy: TcpProxy, record_property
) -> None:
    warm(server)
    proxy.freeze()
    try:
        watch = Watch(server.url)
        with watch:
            started = time.perf_counter()
            fired = concurrently([server.url + DATA_PATHS[i % len(DATA_PATHS)] for i in range(10)])
            first_wave_s = time.perf_counter() - started
            time.sleep(2 * SERVER_TTL_S)  # workers' background checks meet the frozen database
            later = concurrently([server.url + path for path in DATA_PATHS * 2])
    finally:
        proxy.thaw()
    thawed = time.perf_counter()
    recovered_s = recovery(server, thawed)

    slowest = max(seconds for seconds, _, _ in fired)
    slowest_later = max(seconds for seconds, _, _ in later)
    for seconds, status, document in fired + later:
        assert (status, document) == (503, {"error": "database unavailable"})
        assert seconds < FAILS_WITHIN_S
    assert watch.answered and watch.failures == []
    assert watch.slowest < ANSWERS_WITHIN_S, f"a request that needs no database took {watch.slowest:.2f} s"
    figures = {
        "frozen_first_10_slowest_503_s": round(slowest, 2),
        "frozen_first_10_all_answered_s": round(first_wave_s, 2),
        "frozen_later_slowest_503_s": round(slowest_later, 2),
        "frozen_healthz_and_predict_slowest_s": round(watch.slowest, 3),
        "frozen_healthz_and_predict_requests": watch.answered,
        "recovered_after_thaw_s": round(recovered_s, 2),
    }
    for name, value in figures.items():
        record_property(name, value)
    print(figures)


@pytest.mark.postgres
def test_a_database_that_refuses_is_503_at_once_and_recovers(server: Server, proxy: TcpProxy) -> None:
    warm(server)
    proxy.stop()
    try:
        for seconds, status, document in concurrently([server.url + path for path in DATA_PATHS * 2]):
            assert (status, document) == (503, {"error": "database unavailable"})
            assert seconds < 2
        assert {status for _, status, _ in concurrently([server.url + "/healthz"] * 8)} == {200}
    finally:
        proxy.start()
    recovery(server, time.perf_counter())


def warm(server: Server) -> None:
    """Every worker holds the forecast and has pooled connections, as after a while in service."""
    workers, holding = server.worker_pids(), set()
    deadline = time.monotonic() + 30
    while holding != workers:
        assert time.monotonic() < deadline, f"workers {sorted(workers - holding)} do not hold the forecast"
        concurrently([server.url + PREDICT] * 8)
        for _, status, document in concurrently([server.url + "/readyz"] * 16):
            if status == 200 and SAMPLE_MODEL in document["worker"]["held"]:
                holding.add(document["worker"]["pid"])


def recovery(server: Server, since: float, within_s: float = 10) -> float:
    """Seconds from ``since`` until every worker answers data requests again."""
    while True:
        statuses = {status for _, status, _ in concurrently([server.url + path for path in DATA_PATHS * 3])}
        if statuses == {200}:
            return time.perf_counter() - since
        assert time.perf_counter() - since < within_s, (
            f"still {statuses} {within_s} s after the database is back"
        )
        time.sleep(0.1)


class Watch:
    """Asks /healthz and the held forecast without pause, from two threads, while the block runs."""

    def __init__(self, url: str):
        self.url = url
        self.slowest = 0.0
        self.answered = 0
        self.failures: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ask, args=(path,)) for path in ("/healthz", PREDICT)]

    def __enter__(self) -> Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _ask(self, path: str) -> None:
        while not self._stop.is_set():
            seconds, status, _ = get(self.url + path)
            self.slowest = max(self.slowest, seconds)
            self.answered += 1
            if status != 200:
                self.failures.append((path, status))
            time.sleep(0.02)


@pytest.mark.postgres
def test_concurrent_trains_of_one_model_train_it_once(server: Server, store: Engine, record_property) -> None:
    with store.connect() as conn:
        before = {v["id"] for v in model_versions(conn, SAMPLE_MODEL)}

    def post_train(_: int) -> requests.Response:
        return requests.post(
            f"{server.url}/api/model/{SAMPLE_MODEL}/train",
            json={"windows": 2},
            headers={"Authorization": f"Bearer {API_TOKEN}", "Connection": "close"},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(post_train, range(4)))

    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    [trained] = [a.json() for a in answers if a.status_code == 201]
    version = trained["version_id"]
    for refused in (a.json() for a in answers if a.status_code == 409):
        assert refused["running_version"] == version
        assert f"is already being trained (version {version}, since " in refused["error"]
        assert datetime.fromisoformat(refused["since"]) <= datetime.now(UTC).replace(tzinfo=None)
    with store.connect() as conn:
        after = {v["id"]: v["status"] for v in model_versions(conn, SAMPLE_MODEL)}
    assert set(after) - before == {version}
    assert after[version] == "ready"
    record_property("concurrent_trains", "4 posted: 1 trained (201), 3 refused (409) naming it")


def test_inline_training_past_the_request_timeout_answers_504_and_frees_the_model(
    served: Engine, app_for, auth
) -> None:
    client = app_for(served, request_timeout_s=0.5).test_client()
    started = time.perf_counter()
    answer = client.post(f"/api/model/{SAMPLE_MODEL}/train", json={"windows": 13}, headers=auth)
    elapsed = time.perf_counter() - started

    assert answer.status_code == 504, answer.get_json()
    message = answer.get_json()["error"]
    assert message.startswith(
        "the backtest's 12 remaining window(s) and the fit on all data would take about "
    )
    assert "FORECASTING_REQUEST_TIMEOUT (0.5 s)" in message and "FORECASTING_AIRFLOW_URL" in message
    assert elapsed < 2
    with served.connect() as conn:
        assert [v["status"] for v in model_versions(conn, SAMPLE_MODEL)] == ["ready"]  # nothing left training
    retrained = (
        app_for(served)
        .test_client()
        .post(f"/api/model/{SAMPLE_MODEL}/train", json={"windows": 0}, headers=auth)
    )
    assert retrained.status_code == 201, retrained.get_json()


def test_inline_refresh_never_sleeps_past_the_request_timeout_on_rate_limits(
    engine: Engine, app_for, auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_document(engine, {"series": [{"name": "pizza", "source": "google_trends"}]})
    # Any retry would sleep for years: full jitter draws a share of the cap, so the cap is huge too.
    monkeypatch.setenv("FORECASTING_GOOGLE_TRENDS_BACKOFF", "1e9")
    monkeypatch.setenv("FORECASTING_GOOGLE_TRENDS_MAX_BACKOFF", "1e9")
    client = app_for(engine).test_client()
    with responses.RequestsMock() as google:
        for method in (responses.GET, responses.POST):
            google.add(method, re.compile(r"https://trends\.google\.com/.*"), status=429)
        started = time.perf_counter()
        answer = client.post("/api/timeseries/pizza/update-values", headers=auth)
        elapsed = time.perf_counter() - started

    assert answer.status_code == 502
    [result] = answer.get_json()["results"]
    assert result["outcome"] == "error"
    assert result["error"].startswith(
        "series 'pizza': Google Trends answered 429 Too Many Requests for keyword 'pizza' (attempt 1 of 5); "
        "waiting to retry and retrying would take about "
    )
    assert (
        "of the 24 s this work may take; work inside a request is bounded by FORECASTING_REQUEST_TIMEOUT"
        in (result["error"])
    )
    assert "Long work belongs to Airflow" in result["error"]
    assert elapsed < 5


def test_a_deadline_lets_a_retry_run_only_if_it_ends_in_time() -> None:
    sleeps: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as google:
        for method in (responses.GET, responses.POST):
            google.add(method, re.compile(r"https://trends\.google\.com/.*"), status=429)
        for backoff, deadline_s in ((1.0, 10.0), (10.0, 10.0)):
            source = GoogleTrendsSource(
                GoogleTrendsSettings(backoff=backoff, retries=1),
                sleep=sleeps.append,
                jitter=lambda: 1.0,
                deadline=Deadline(deadline_s, "use Airflow"),
            )
            with pytest.raises(RateLimited, match="use Airflow" if backoff == 10.0 else "on all 2 attempt"):
                source.download(SeriesSpec(name="pizza", source="google_trends", params={}))
    assert sleeps == [1.0]  # 1 s and an attempt fit in 10 s; 10 s and an attempt do not


@pytest.mark.parametrize("configured", [None, "45"])
def test_gunicorn_and_the_service_read_one_request_timeout(
    configured: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config's own would be a new directory
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if configured is None:
        monkeypatch.delenv("FORECASTING_REQUEST_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("FORECASTING_REQUEST_TIMEOUT", configured)
    gunicorn = runpy.run_path(str(CONFIG))
    assert gunicorn["timeout"] == Settings.from_env().request_timeout_s == float(configured or 30)


@pytest.mark.parametrize("configured", ["0", "-1", "241", "inf", "nan"])
def test_a_request_timeout_beyond_what_the_proxy_waits_for_is_refused(configured: str) -> None:
    with pytest.raises(InvalidInput, match="FORECASTING_REQUEST_TIMEOUT.*(at most 240|not be negative)"):
        Settings.from_env({"FORECASTING_REQUEST_TIMEOUT": configured})
