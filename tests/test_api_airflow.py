"""With Airflow configured, train and update-* trigger DAG runs (202) instead of running inline.

HTTP to Airflow is intercepted with ``responses``; nothing of ours is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import responses
from flask import Flask
from sqlalchemy import Engine

from forecasting.apply import apply_file
from forecasting.pipelines import REFRESH_DAG_ID, REFRESH_SERIES_PARAM, RETRAIN_DAG_ID, RETRAIN_MODELS_PARAM
from tests.conftest import SAMPLE_MODEL, SAMPLE_YAML

AIRFLOW = "http://airflow.test:8080"
TOKEN_URL = f"{AIRFLOW}/auth/token"
JWT = "jwt-from-airflow"


def dag_runs_url(dag_id: str) -> str:
    return f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns"


@pytest.fixture
def app(engine: Engine, app_for) -> Flask:
    apply_file(engine, SAMPLE_YAML)  # series, configs and model defined; nothing downloaded or trained
    return app_for(engine, airflow_url=AIRFLOW, airflow_username="admin", airflow_password="secret")


@pytest.fixture
def airflow() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def accept_runs(airflow: responses.RequestsMock, dag_id: str, run_id: str = "manual__2026-01-04") -> None:
    airflow.post(TOKEN_URL, json={"access_token": JWT}, status=201)
    airflow.post(dag_runs_url(dag_id), json={"dag_run_id": run_id, "state": "queued"}, status=200)


def assert_triggered(airflow: responses.RequestsMock, dag_id: str, conf: dict) -> None:
    """One token request with the credentials, then one DAG run request carrying its JWT and conf."""
    token, run = airflow.calls
    assert token.request.url == TOKEN_URL
    assert json.loads(token.request.body) == {"username": "admin", "password": "secret"}
    assert run.request.url == dag_runs_url(dag_id)
    assert run.request.headers["Authorization"] == f"Bearer {JWT}"
    assert json.loads(run.request.body) == {"logical_date": None, "conf": conf}


def test_train_triggers_the_retrain_dag_run_for_the_model_and_answers_202(client, auth, airflow):
    accept_runs(airflow, RETRAIN_DAG_ID)

    response = client.post(f"/api/model/{SAMPLE_MODEL}/train", json={"windows": 2}, headers=auth)

    assert response.status_code == 202
    conf = {RETRAIN_MODELS_PARAM: [SAMPLE_MODEL]}
    assert conf == {"models": [SAMPLE_MODEL]}
    assert response.get_json() == {
        "dag_id": RETRAIN_DAG_ID,
        "dag_run_id": "manual__2026-01-04",
        "state": "queued",
        "conf": conf,
        "url": f"{AIRFLOW}/dags/{RETRAIN_DAG_ID}/runs/manual__2026-01-04",
    }
    assert_triggered(airflow, RETRAIN_DAG_ID, conf)
    assert client.get(f"/api/model/{SAMPLE_MODEL}/versions").get_json() == []  # nothing trained here


def test_update_values_triggers_the_refresh_dag_run_for_the_series_and_answers_202(client, auth, airflow):
    accept_runs(airflow, REFRESH_DAG_ID)

    response = client.post("/api/timeseries/sample-tea/update-values", headers=auth)

    assert response.status_code == 202
    conf = {REFRESH_SERIES_PARAM: ["sample-tea"]}
    assert conf == {"series": ["sample-tea"]}
    assert response.get_json()["dag_run_id"] == "manual__2026-01-04"
    assert response.get_json()["conf"] == conf
    assert_triggered(airflow, REFRESH_DAG_ID, conf)
    assert client.get("/api/timeseries/sample-tea/versions").get_json() == []  # nothing downloaded here


def test_update_all_values_triggers_the_refresh_dag_run_for_every_series_and_answers_202(
    client, auth, airflow
):
    accept_runs(airflow, REFRESH_DAG_ID, run_id="manual__all")

    response = client.post("/api/timeseries/update-all-values", headers=auth)

    assert response.status_code == 202
    assert response.get_json()["dag_run_id"] == "manual__all"
    assert_triggered(airflow, REFRESH_DAG_ID, {"series": []})
    assert [s["n_versions"] for s in client.get("/api/timeseries").get_json()] == [0, 0, 0]


def test_an_unreachable_airflow_is_502_json(client, auth, airflow):
    airflow.post(TOKEN_URL, body=requests.ConnectionError("connection refused"))

    response = client.post(f"/api/model/{SAMPLE_MODEL}/train", headers=auth)

    assert response.status_code == 502
    assert f"Airflow at {AIRFLOW} is unreachable" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("token_status", "run_status", "path"),
    [(401, 200, "/auth/token"), (201, 404, f"/api/v2/dags/{REFRESH_DAG_ID}/dagRuns"), (201, 409, "dagRuns")],
)
def test_airflow_answering_4xx_is_502_json_naming_the_status(
    client, auth, airflow, token_status, run_status, path
):
    airflow.post(TOKEN_URL, json={"access_token": JWT, "detail": "bad"}, status=token_status)
    airflow.post(dag_runs_url(REFRESH_DAG_ID), json={"detail": "DAG refused"}, status=run_status)

    response = client.post("/api/timeseries/update-all-values", headers=auth)

    assert response.status_code == 502
    status = token_status if token_status >= 400 else run_status
    message = response.get_json()["error"]
    assert f"Airflow answered {status}" in message and path in message


def test_an_airflow_answer_without_a_token_or_run_id_is_502_json(client, auth, airflow):
    airflow.post(TOKEN_URL, json={"token": "elsewhere"}, status=201)

    response = client.post("/api/timeseries/update-all-values", headers=auth)

    assert response.status_code == 502
    assert "access_token" in response.get_json()["error"]


@pytest.mark.parametrize(
    "url", ["/api/model/nope/train", "/api/timeseries/nope/update-values"], ids=["model", "series"]
)
def test_an_unknown_model_or_series_is_404_without_calling_airflow(client, auth, airflow, url):
    accept_runs(airflow, RETRAIN_DAG_ID)
    accept_runs(airflow, REFRESH_DAG_ID)

    response = client.post(url, headers=auth)

    assert response.status_code == 404
    assert "unknown" in response.get_json()["error"]
    assert len(airflow.calls) == 0


def test_triggering_still_needs_the_api_token(client, airflow):
    accept_runs(airflow, RETRAIN_DAG_ID)

    response = client.post(f"/api/model/{SAMPLE_MODEL}/train")

    assert response.status_code == 401
    assert len(airflow.calls) == 0


def test_an_airflow_url_with_a_trailing_slash_is_called_without_a_double_slash(
    engine, app_for, auth, airflow
):
    apply_file(engine, SAMPLE_YAML)
    app = app_for(engine, airflow_url=f"{AIRFLOW}/", airflow_username="admin", airflow_password="secret")
    accept_runs(airflow, RETRAIN_DAG_ID)

    response = app.test_client().post(f"/api/model/{SAMPLE_MODEL}/train", headers=auth)

    assert response.status_code == 202
    assert_triggered(airflow, RETRAIN_DAG_ID, {"models": [SAMPLE_MODEL]})


def test_run_links_use_the_address_browsers_reach_airflow_at(engine, app_for, auth, airflow, monkeypatch):
    """In compose the service calls Airflow by its internal name; the link must open in a browser."""
    from serving.settings import Settings

    apply_file(engine, SAMPLE_YAML)
    monkeypatch.setenv("FORECASTING_AIRFLOW_URL", AIRFLOW)
    monkeypatch.setenv("FORECASTING_AIRFLOW_UI_URL", "http://localhost:8080/")
    settings = Settings.from_env()
    app = app_for(
        engine,
        airflow_url=settings.airflow_url,
        airflow_username="admin",
        airflow_password="secret",
        airflow_ui_url=settings.airflow_ui_url,
    )
    accept_runs(airflow, RETRAIN_DAG_ID)

    response = app.test_client().post(f"/api/model/{SAMPLE_MODEL}/train", headers=auth)

    assert (
        response.get_json()["url"] == f"http://localhost:8080/dags/{RETRAIN_DAG_ID}/runs/manual__2026-01-04"
    )
    assert_triggered(airflow, RETRAIN_DAG_ID, {"models": [SAMPLE_MODEL]})
