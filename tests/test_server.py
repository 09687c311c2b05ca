"""The service under gunicorn, as deployed: two worker processes on loopback, Postgres behind a proxy.

Requests open a new connection each (no keep-alive) so that both workers answer;
a check that "every response" shows something means every worker does.
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import Engine

from forecasting.registry import model_versions
from forecasting.series import series_overview
from tests.conftest import SAMPLE_MODEL
from tests.servers import FORECASTING, SERVER_TTL_S, Server, TcpProxy
from tests.store_checks import add_corrupt_version

pytestmark = pytest.mark.postgres

LOAD_BUDGET_S = 20.0  # a worker's check, the artifact's parse in a child process, the forecast
PREDICT = f"/api/model/{SAMPLE_MODEL}/predict"
TARGETS = ["sample-coffee", "sample-tea"]
HORIZONS = list(range(1, 13))
DATA_PATHS = ("/readyz", "/api/timeseries")


def answers(url: str, path: str = PREDICT, n: int = 16) -> list[tuple[int, str | None]]:
    """``(status, X-Model-Version)`` of ``n`` concurrent requests, each on a new connection."""

    def one(_: int) -> tuple[int, str | None]:
        response = requests.get(url + path, timeout=30, headers={"Connection": "close"})
        return response.status_code, response.headers.get("X-Model-Version")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(n)))


def served_by_all(url: str) -> str:
    """The one model version every worker answers with."""
    [(status, version)] = set(answers(url))
    assert status == 200
    return version


def test_predict_answers_the_served_version_per_target_and_horizon(server: Server, store: Engine) -> None:
    with requests.Session() as session:  # keep-alive: the second request reaches the same worker
        first = session.get(server.url + PREDICT, timeout=30)
        started = time.perf_counter()
        second = session.get(server.url + PREDICT, timeout=30)
        elapsed = time.perf_counter() - started

    assert first.status_code == 200, first.text
    document = first.json()
    assert document["model"] == SAMPLE_MODEL
    assert first.headers["X-Model-Version"] == str(document["model_version"])
    with store.connect() as conn:
        versions = {v["id"]: v["status"] for v in model_versions(conn, SAMPLE_MODEL)}
        current = {s["name"]: s["current_version_id"] for s in series_overview(conn)}
    assert versions[document["model_version"]] == "ready"
    assert document["data_versions"] == current
    assert [(f["series"], f["horizon"]) for f in document["forecasts"]] == [
        (series, h) for series in TARGETS for h in HORIZONS
    ]
    assert all(isinstance(f["prediction"], float) for f in document["forecasts"])
    assert second.content == first.content
    assert elapsed < 0.2, f"a held forecast took {elapsed:.3f} s"


def test_metrics_count_the_requests_of_every_worker(server: Server) -> None:
    before = predictions_counted(server.url)
    assert {status for status, _ in answers(server.url, n=24)} == {200}
    assert predictions_counted(server.url) - before == 24  # whichever worker answers /metrics


def predictions_counted(url: str) -> float:
    metrics = requests.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"}).text
    prefix = "forecasting_http_request_duration_seconds_count{"
    return sum(
        float(line.rpartition(" ")[2])
        for line in metrics.splitlines()
        if line.startswith(prefix) and 'route="/api/model/<name>/predict"' in line and 'method="GET"' in line
    )


def test_a_version_registered_through_the_cli_is_served_within_the_ttl(
    server: Server, store: Engine, record_property
) -> None:
    old = served_by_all(server.url)
    direct_url = store.url.render_as_string(hide_password=False)
    train = subprocess.Popen(
        [FORECASTING, "--database-url", direct_url, "train", SAMPLE_MODEL, "--windows", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    during = []
    while train.poll() is None:  # gently: training needs the CPU
        during += answers(server.url, n=2)
        time.sleep(0.2)
    out, err = train.communicate()
    registered = time.monotonic()
    assert train.returncode == 0, err
    new = str(json.loads(out)["version_id"])
    assert new != old
    assert {status for status, _ in during} == {200}

    seen: list[tuple[int, str | None]] = []
    while set(seen) != {(200, new)}:
        seen = answers(server.url, n=24)
        assert set(seen) <= {(200, old), (200, new)}
        waited = time.monotonic() - registered
        assert waited < SERVER_TTL_S + LOAD_BUDGET_S, (
            f"after {waited:.1f} s still answered {sorted(set(seen))}"
        )
    pickup = time.monotonic() - registered
    record_property("pickup_s", round(pickup, 2))
    print(f"version {new} served by every request {pickup:.2f} s after `forecasting train` returned")


def test_a_corrupt_artifact_does_not_replace_the_served_version(server: Server, store: Engine) -> None:
    served = served_by_all(server.url)
    workers = server.worker_pids()
    assert len(workers) == 2
    corrupt = add_corrupt_version(store, int(served))

    deadline = time.monotonic() + SERVER_TTL_S + LOAD_BUDGET_S
    refused: list[dict] = []
    while not refused:
        assert set(answers(server.url, n=8)) == {(200, served)}
        ready = requests.get(server.url + "/readyz", timeout=30, headers={"Connection": "close"})
        assert ready.status_code == 200, ready.text
        assert ready.json()["models"][0]["served_version"] in (corrupt, int(served))  # until one marks it
        refused = ready.json()["worker"]["refused_versions"]
        assert time.monotonic() < deadline, "no worker reported the corrupt version as refused"
    assert [(r["model"], r["version"]) for r in refused] == [(SAMPLE_MODEL, corrupt)]
    assert "does not load" in refused[0]["reason"]
    listed = requests.get(f"{server.url}/api/model/{SAMPLE_MODEL}", timeout=30).json()
    assert listed["served_version"] == int(served)  # the worker marked it failed: the listing agrees

    keep_until = time.monotonic() + 3 * SERVER_TTL_S
    while time.monotonic() < keep_until:
        assert set(answers(server.url, n=8)) == {(200, served)}
    assert server.process.poll() is None
    assert server.worker_pids() == workers, "a worker died and was replaced"


def test_without_the_database_readyz_and_data_endpoints_answer_503_and_recover(
    server: Server, proxy: TcpProxy
) -> None:
    assert set(answers(server.url, "/readyz", n=8)) == {(200, None)}
    proxy.stop()
    try:
        for path in DATA_PATHS:
            for _ in range(4):
                started = time.perf_counter()
                response = requests.get(server.url + path, timeout=30, headers={"Connection": "close"})
                elapsed = time.perf_counter() - started
                assert response.status_code == 503, response.text
                assert response.headers["Content-Type"] == "application/json"
                assert response.json() == {"error": "database unavailable"}  # never the host or port
                assert elapsed < 2, f"{path} took {elapsed:.1f} s to say the database is gone"
        assert set(answers(server.url, "/healthz", n=8)) == {(200, None)}
    finally:
        proxy.start()

    deadline = time.monotonic() + 5
    while True:
        statuses = {status for path in DATA_PATHS for status, _ in answers(server.url, path)}
        if statuses == {200}:
            break
        assert time.monotonic() < deadline, f"still {statuses} 5 s after the database came back"
        time.sleep(0.2)
