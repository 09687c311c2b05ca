"""Cached predictions: computed once, reloaded when the model or the data move on; health and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
from sqlalchemy import update

from forecasting.apply import apply_document
from forecasting.db import make_engine, writing
from forecasting.models import MLModelVersion
from forecasting.refresh import store
from forecasting.registry import model_versions
from forecasting.series import series_specs, version_values
from tests.conftest import SAMPLE_MODEL
from tests.store_checks import add_corrupt_version, statements

PREDICT = f"/api/model/{SAMPLE_MODEL}/predict"


def poll(client, url: str, until: Callable, tries: int = 120, pause_s: float = 0.25):
    """GET ``url`` until ``until(response)``: the cache reloads in a background thread."""
    for _ in range(tries):
        response = client.get(url)
        assert response.status_code == 200, response.get_json()
        if until(response):
            return response
        time.sleep(pause_s)
    raise AssertionError(f"{url} never satisfied the condition; last answer: {response.get_json()}")


def test_a_second_predict_within_the_ttl_runs_no_statement(served, app_for):
    app = app_for(served)
    client = app.test_client()
    first = client.get(PREDICT)
    assert first.status_code == 200

    with statements(app.extensions["forecasting"]["engine"]) as seen:
        second = client.get(PREDICT)

    assert seen == []
    assert second.status_code == 200
    assert second.data == first.data
    assert second.headers["X-Model-Version"] == first.headers["X-Model-Version"] == "1"


def test_with_zero_ttl_a_version_trained_in_between_is_served(served, app_for, auth):
    client = app_for(served, cache_ttl_s=0).test_client()
    assert client.get(PREDICT).get_json()["model_version"] == 1

    trained = client.post(f"/api/model/{SAMPLE_MODEL}/train", json={"windows": 0}, headers=auth)
    assert trained.status_code == 201
    new = trained.get_json()["version_id"]
    assert new != 1

    response = poll(client, PREDICT, lambda r: r.get_json()["model_version"] == new)

    assert response.headers["X-Model-Version"] == str(new)
    assert f'forecasting_served_model_version{{model="{SAMPLE_MODEL}"}} {float(new)}' in client.get(
        "/metrics"
    ).get_data(as_text=True)


def test_a_version_with_a_corrupt_artifact_does_not_replace_the_served_one(served, app_for):
    client = app_for(served, cache_ttl_s=0).test_client()
    before = client.get(PREDICT).get_json()
    corrupt = add_corrupt_version(served, before["model_version"])

    def refused(response) -> bool:
        client.get(PREDICT)  # each request past the TTL starts a check
        return any(v["version"] == corrupt for v in response.get_json()["worker"]["refused_versions"])

    ready = poll(client, "/readyz", refused)

    worker = ready.get_json()["worker"]
    assert [(v["model"], v["version"]) for v in worker["refused_versions"]] == [(SAMPLE_MODEL, corrupt)]
    assert worker["refused_versions"][0]["reason"]
    assert worker["held"][SAMPLE_MODEL]["model_version"] == before["model_version"]
    assert worker["held"][SAMPLE_MODEL]["newest_ready_version"] == before["model_version"]
    assert client.get(f"/api/model/{SAMPLE_MODEL}").get_json()["served_version"] == before["model_version"]
    statuses = {v["id"]: v["status"] for v in client.get(f"/api/model/{SAMPLE_MODEL}/versions").get_json()}
    assert statuses == {before["model_version"]: "ready", corrupt: "failed"}
    after = client.get(PREDICT)
    assert after.headers["X-Model-Version"] == str(before["model_version"])
    assert after.get_json()["forecasts"] == before["forecasts"]


def test_a_refresh_that_creates_a_new_data_version_is_forecast_on_the_new_data(served, app_for, auth):
    client = app_for(served, cache_ttl_s=0).test_client()
    before = client.get(PREDICT).get_json()
    # sample-flu (a feature) now keeps fewer weeks: its next refresh is a new version
    apply_document(
        served,
        {"series": [{"name": "sample-flu", "source": "sample", "params": {"seed": 7, "periods": 200}}]},
    )
    refreshed = client.post("/api/timeseries/sample-flu/update-values", headers=auth).get_json()["results"][0]
    assert refreshed["outcome"] == "new_version"
    flu = refreshed["version_id"]

    after = poll(client, PREDICT, lambda r: r.get_json()["data_versions"]["sample-flu"] == flu).get_json()

    assert after["data_versions"] == {**before["data_versions"], "sample-flu": flu}
    assert after["model_version"] == before["model_version"]
    assert after["trained_on_data_versions"] == before["trained_on_data_versions"]


def test_healthz_readyz_and_metrics_describe_the_worker(served, app_for):
    client = app_for(served).test_client()

    assert client.get("/healthz").get_json() == {"status": "ok"}
    client.get(PREDICT)
    ready = client.get("/readyz")
    metrics = client.get("/metrics")

    assert ready.status_code == 200
    document = ready.get_json()
    mase = client.get(f"/api/model/{SAMPLE_MODEL}").get_json()["mase"]
    assert document["status"] == "ready"
    assert document["models"] == [{"model": SAMPLE_MODEL, "served_version": 1, "mase": mase}]
    assert document["worker"]["held"][SAMPLE_MODEL]["model_version"] == 1
    assert document["worker"]["refused_versions"] == []
    assert metrics.status_code == 200 and metrics.content_type.startswith("text/plain")
    text = metrics.get_data(as_text=True)
    assert "forecasting_http_request_duration_seconds_bucket{" in text
    assert 'route="/api/model/<name>/predict"' in text
    assert f'forecasting_served_model_version{{model="{SAMPLE_MODEL}"}} 1.0' in text


def test_readyz_is_503_json_on_a_database_without_schema(app_for, tmp_path):
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    client = app_for(empty).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "forecasting db upgrade" in response.get_json()["error"]
    assert client.get("/healthz").status_code == 200
    empty.dispose()


def test_a_new_worker_skips_a_corrupt_newest_version_and_serves_the_newest_that_loads(served, app_for):
    with served.connect() as conn:
        [good] = [v["id"] for v in model_versions(conn, SAMPLE_MODEL)]
    corrupt = add_corrupt_version(served)
    client = app_for(served).test_client()

    first, again = client.get(PREDICT), client.get(PREDICT)

    assert first.status_code == again.status_code == 200
    assert first.get_json()["model_version"] == again.get_json()["model_version"] == good
    worker = client.get("/readyz").get_json()["worker"]
    assert [(v["model"], v["version"]) for v in worker["refused_versions"]] == [(SAMPLE_MODEL, corrupt)]
    assert worker["held"][SAMPLE_MODEL] | {"age_s": 0} == {
        "model_version": good,
        "newest_ready_version": good,
        "forecast_from": first.get_json()["forecasts"][0]["last_date"],
        "age_s": 0,
    }
    assert [m["served_version"] for m in client.get("/readyz").get_json()["models"]] == [good]


def test_a_worker_whose_only_ready_version_is_corrupt_answers_404_json_naming_it(served, app_for):
    with writing(served) as conn:
        conn.execute(update(MLModelVersion).values(status="failed"))
    corrupt = add_corrupt_version(served)
    client = app_for(served).test_client()

    first, again = client.get(PREDICT), client.get(PREDICT)

    for response in (first, again):
        assert response.status_code == 404
        error = response.get_json()["error"]
        assert f"its newest, version {corrupt}, is failed (found unloadable: stored artifact" in error
    refused = client.get("/readyz").get_json()["worker"]["refused_versions"]
    assert [(v["model"], v["version"]) for v in refused] == [(SAMPLE_MODEL, corrupt)]


def test_a_weekly_append_is_forecast_from_the_new_week_within_the_ttl(served, app_for):
    """An append keeps every version id; the forecast must still move to the new origin."""
    client = app_for(served, cache_ttl_s=0).test_client()
    before = client.get(PREDICT).get_json()
    with served.connect() as conn:
        specs = series_specs(conn, ["sample-coffee", "sample-tea", "sample-flu"])
        downloads = {spec.name: version_values(conn, spec.name)[1] for spec in specs}
    newest = max(frame["time"].max() for frame in downloads.values())
    week = newest + pd.Timedelta(weeks=1)
    appended = {
        name: pd.concat([frame, pd.DataFrame({"time": [week], "value": [50.0]})], ignore_index=True)
        for name, frame in downloads.items()
    }
    results = store(served, specs, appended)
    assert {(r.outcome, r.rows_added) for r in results} == {("appended", 1)}

    after = poll(
        client, PREDICT, lambda r: r.get_json()["forecasts"][0]["last_date"] == week.isoformat()
    ).get_json()

    assert after["data_versions"] == before["data_versions"]
    assert after["model_version"] == before["model_version"]
    assert {f["last_date"] for f in after["forecasts"]} == {week.isoformat()}
