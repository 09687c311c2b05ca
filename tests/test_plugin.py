"""The Airflow plugin as Airflow runs it: loaded from plugins/ by a real API server and CLI.

Airflow runs in processes of its own on a fresh metadata DB, with a DAGs folder that
holds only a small DAG shaped like the retrain DAG (a train task mapped per model,
returning the contract's dict). So neither the repository's dags/ nor the session's
Airflow DB is involved, and the service URL is set as a deployment sets it: in the
environment of the API server.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import requests

from forecasting.pipelines import RETRAIN_DAG_ID, TRAIN_TASK_ID
from tests.conftest import AIRFLOW, REPO
from tests.servers import free_port, stop_process_group

SERVICE_URL_ENV = "AIRFLOW__FORECASTING__SERVICE_URL"
CONFIGURED = "http://forecasts.test:9000/"  # the trailing slash is the plugin's to strip
MODELS = ["a b/c", "ünï?#"]  # free text: a space, a slash, non-ASCII, URL delimiters

RETRAIN_DAG = f"""
from airflow.sdk import dag, task

from forecasting.pipelines import RETRAIN_DAG_ID, TRAIN_TASK_ID


@dag(dag_id=RETRAIN_DAG_ID, schedule=None)
def retrain():
    @task(task_id=TRAIN_TASK_ID)
    def train(model: str) -> dict:
        return {{"model": model, "version_id": 1, "status": "trained"}}

    @task
    def report() -> dict:
        return {{"model": {MODELS[0]!r}}}

    train.expand(model={MODELS!r})
    report()


retrain()
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of an Airflow home with a migrated DB, the small DAG and this repository's plugins/."""
    home = tmp_path_factory.mktemp("airflow-plugin")
    (home / "dags").mkdir()
    (home / "dags" / "retrain.py").write_text(RETRAIN_DAG)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    env.pop(SERVICE_URL_ENV, None)
    airflow(env, "db", "migrate")
    return env


def airflow(env: dict[str, str], *args: str) -> str:
    """Run the Airflow CLI; returns its stdout."""
    return subprocess.run(
        [AIRFLOW, *args], env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout


@pytest.fixture(scope="module")
def api(airflow_env: dict[str, str]) -> Iterator[str]:
    """Base URL of an Airflow API server, after one run of the small DAG.

    The service URL is configured in its environment; every request counts as an
    admin's (simple auth manager), since access control is not under test.
    """
    airflow(airflow_env, "dags", "test", RETRAIN_DAG_ID)
    port = free_port()
    admins = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    env = {**airflow_env, SERVICE_URL_ENV: CONFIGURED, **admins}
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [AIRFLOW, "api-server", "--apps", "core", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        stop_process_group(process)
        log.close()


def wait_until_healthy(url: str, process: subprocess.Popen, log, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet
            pass
        time.sleep(0.2)
    log.seek(0)
    raise RuntimeError(f"the API server did not become healthy; its output:\n{log.read()}")


@pytest.fixture(scope="module")
def run_id(api: str) -> str:
    (run,) = get(api, f"/dags/{RETRAIN_DAG_ID}/dagRuns")["dag_runs"]
    assert run["state"] == "success"
    return run["dag_run_id"]


def get(api: str, path: str, **params) -> dict:
    response = requests.get(f"{api}/api/v2{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def our_plugin(plugins: list[dict]) -> dict:
    (plugin,) = [p for p in plugins if p["name"] == "forecasting"]
    return plugin


def links(api: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    path = f"/dags/{RETRAIN_DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links"
    return get(api, path, map_index=map_index)["extra_links"]


def test_the_api_server_loads_the_plugins_from_plugins_without_import_errors(api: str):
    plugins = get(api, "/plugins")["plugins"]
    plugin = our_plugin(plugins)
    (listener,) = [p for p in plugins if p["name"] == "forecasting_dag_test_deadlines"]
    errors = get(api, "/plugins/importErrors")["import_errors"]

    assert plugin["source"] == "$PLUGINS_FOLDER/forecasting_plugin.py"
    assert plugin["global_operator_extra_links"] == ["<forecasting_plugin.ForecastPageLink object>"]
    assert listener["listeners"] == ["forecasting_airflow.deadlines"]
    assert [e for e in errors if "forecasting" in e["source"]] == []


def test_nav_view_embeds_the_forecast_index_at_the_configured_url(api: str):
    (view,) = our_plugin(get(api, "/plugins")["plugins"])["external_views"]

    assert view["name"] == "Forecasts"
    assert view["href"] == "http://forecasts.test:9000/"
    assert (view["destination"], view["url_route"]) == ("nav", "forecasts")


def test_nav_view_points_at_the_local_service_when_unconfigured(airflow_env: dict[str, str]):
    (view,) = our_plugin(json.loads(airflow(airflow_env, "plugins", "--output", "json")))["external_views"]

    assert view["href"] == "http://127.0.0.1:8000/"


def test_each_train_instance_links_to_the_page_of_the_model_it_trained(api: str, run_id: str):
    assert links(api, run_id, TRAIN_TASK_ID, map_index=0) == {
        "Forecast page": "http://forecasts.test:9000/models/a%20b%2Fc"
    }
    assert links(api, run_id, TRAIN_TASK_ID, map_index=1) == {
        "Forecast page": "http://forecasts.test:9000/models/%C3%BCn%C3%AF%3F%23"
    }


def test_other_tasks_have_no_forecast_page_link(api: str, run_id: str):
    assert links(api, run_id, "report") == {"Forecast page": None}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_service_lets_its_pages_be_framed_by_the_airflow_ui(client):
    response = client.get("/")

    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors" not in response.headers.get("Content-Security-Policy", "")
