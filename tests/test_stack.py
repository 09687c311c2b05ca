"""``make up`` / ``make down`` for real: the whole stack, a pipeline run through it, nothing left behind.

``make up`` starts ``airflow standalone`` and the service (gunicorn on a loopback port,
behind nginx on the service's port) on a temporary state directory and free ports;
``refresh_trends`` is triggered through Airflow's REST API, and the ``retrain_models`` run
started by its asset event must succeed; the train task links to the model's page, and
the service must serve that run's model version. The refresh is given a deadline shorter
than it takes, so the triggerer must log the missed deadline. ``make down`` must leave no
process of the stack alive and nothing listening.
Takes about a minute on two cores (up to ten under load).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from forecasting.pipelines import REFRESH_DAG_ID, REFRESH_SERIES_PARAM, RETRAIN_DAG_ID, TRAIN_TASK_ID
from tests.conftest import REPO, SAMPLE_MODEL
from tests.servers import free_port

UP_TIMEOUT_S = 420  # make up gives up after 300 s itself; the venv is already installed
PIPELINE_TIMEOUT_S = 600
TAIL_LINES = 60
DEADLINE_S = 2  # a refresh run takes longer: its deadline alert must fire


@dataclass
class Stack:
    var: Path
    airflow_port: int
    service_port: int

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    def make(self, target: str, timeout_s: float = UP_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run ``make <target>`` as a user would, without the Airflow settings of this test session."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        # Airflow's log servers listen on fixed ports: free ones, so another Airflow cannot collide.
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
        env["AIRFLOW__FORECASTING__REFRESH_DEADLINE_HOURS"] = str(DEADLINE_S / 3600)
        settings = [
            f"VAR={self.var}",
            f"AIRFLOW_PORT={self.airflow_port}",
            f"SERVICE_PORT={self.service_port}",
        ]
        return subprocess.run(
            ["make", target, *settings], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s
        )

    def state(self) -> dict[str, Any]:
        """The pid file's record of the running stack."""
        return json.loads((self.var / "stack.json").read_text())

    def sessions(self) -> list[int]:
        """The session ids (leader pids) the pid file records."""
        if not (self.var / "stack.json").exists():
            return []
        return [p["pid"] for p in self.state()["processes"].values()]

    def diagnostics(self) -> str:
        """Tails of the servers' logs and of the newest task logs, for a failure message."""
        logs = sorted((self.var / "logs").glob("*.log"))
        task_logs = sorted(
            (self.var / "airflow" / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime
        )
        parts = []
        for path in [*logs, *task_logs[-4:]]:
            lines = path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
            parts.append(f"--- {path} ---\n" + "\n".join(lines))
        return "\n".join(parts)


def session_processes(sessions: list[int]) -> list[int]:
    """Processes of the given sessions that still run (a zombie has exited: only its reaping is due)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split() if entry.name.isdigit() else None
        except OSError:  # gone meanwhile
            continue
        if stat and int(stat[3]) in sessions and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check: Callable[[], Any], deadline: float, stack: Stack) -> Any:
    """``check()``'s first truthy value; fails with the logs' tails at the deadline."""
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(3)
    pytest.fail(f"timed out waiting for {what}\n{stack.diagnostics()}")


def finished(stack: Stack, headers: dict[str, str], dag_id: str, run_id: str) -> dict[str, Any] | None:
    run = api_get(stack, headers, f"/dags/{dag_id}/dagRuns/{run_id}")
    run.raise_for_status()
    return run.json() if run.json()["state"] in ("success", "failed") else None


def api_get(stack: Stack, headers: dict[str, str], path: str, **params: Any) -> requests.Response:
    return requests.get(f"{stack.airflow_url}/api/v2{path}", params=params, headers=headers, timeout=30)


def task_log(stack: Stack, headers: dict[str, str], dag_id: str, run_id: str, task: str, map_index=-1) -> str:
    """The first attempt's log as the UI shows it, through the REST API."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/logs/1"
    response = api_get(stack, {**headers, "Accept": "application/json"}, path, map_index=map_index)
    assert response.status_code == 200, response.text
    return json.dumps(response.json()["content"])


def asset_triggered_retrain(stack: Stack, headers: dict[str, str]) -> dict[str, Any] | None:
    """The first ``retrain_models`` run started by an asset event, once it has finished."""
    response = api_get(stack, headers, f"/dags/{RETRAIN_DAG_ID}/dagRuns")
    response.raise_for_status()
    runs = [r for r in response.json()["dag_runs"] if r["run_type"] == "asset_triggered"]
    return runs[0] if runs and runs[0]["state"] in ("success", "failed") else None


@pytest.mark.slow
def test_make_up_runs_a_refresh_and_retrain_that_the_service_serves_and_make_down_stops_everything(
    tmp_path: Path,
):
    stack = Stack(tmp_path / "var", free_port(), free_port())
    try:
        up = stack.make("up")
        assert up.returncode == 0, f"make up failed:\n{up.stdout}\n{up.stderr}\n{stack.diagnostics()}"
        assert f"{stack.airflow_url}/" in up.stdout and f"{stack.service_url}/" in up.stdout
        password = re.search(r"user admin, password (\S+)\)", up.stdout).group(1)
        stored = json.loads(
            (stack.var / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
        )
        assert password == stored["admin"]
        assert f"make down VAR={stack.var}" in up.stdout

        again = stack.make("up")
        assert again.returncode == 0 and "Already up" in again.stdout, again.stdout + again.stderr
        sessions = stack.sessions()
        assert len(sessions) == 3  # airflow, the service and nginx
        health = requests.get(f"{stack.service_url}/healthz", timeout=10)
        assert health.status_code == 200 and health.headers["Server"] == "nginx"
        gunicorn_host, _, gunicorn_port = stack.state()["gunicorn"].rpartition(":")
        assert gunicorn_host == "127.0.0.1" and listening(int(gunicorn_port))

        login = {"username": "admin", "password": password}
        token = requests.post(f"{stack.airflow_url}/auth/token", json=login, timeout=10)
        assert token.status_code in (200, 201), token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        trigger = requests.post(
            f"{stack.airflow_url}/api/v2/dags/{REFRESH_DAG_ID}/dagRuns",
            json={"logical_date": None, "conf": {REFRESH_SERIES_PARAM: []}},
            headers=headers,
            timeout=10,
        )
        assert trigger.status_code == 200, trigger.text
        run_id = trigger.json()["dag_run_id"]

        deadline = time.monotonic() + PIPELINE_TIMEOUT_S
        refresh = wait_for(
            f"{REFRESH_DAG_ID} run {run_id}",
            lambda: finished(stack, headers, REFRESH_DAG_ID, run_id),
            deadline,
            stack,
        )
        assert refresh["state"] == "success", stack.diagnostics()
        retrain = wait_for(
            f"an asset-triggered {RETRAIN_DAG_ID} run",
            lambda: asset_triggered_retrain(stack, headers),
            deadline,
            stack,
        )
        assert retrain["state"] == "success", stack.diagnostics()

        scheduled = [
            run["dag_run_id"]
            for dag_id in (REFRESH_DAG_ID, RETRAIN_DAG_ID)
            for run in api_get(stack, headers, f"/dags/{dag_id}/dagRuns").json()["dag_runs"]
            if run["run_type"] == "scheduled"
        ]
        assert scheduled == [], "a fresh stack must wait for the next scheduled slot"

        overdue = f"DEADLINE MISSED: {REFRESH_DAG_ID} run {run_id}"
        wait_for(
            "the refresh's deadline alert in the triggerer's log",
            lambda: overdue in (stack.var / "logs" / "airflow.log").read_text(errors="replace"),
            deadline,
            stack,
        )

        train = f"/dags/{RETRAIN_DAG_ID}/dagRuns/{retrain['dag_run_id']}/taskInstances/{TRAIN_TASK_ID}"
        links = api_get(stack, headers, f"{train}/links", map_index=0)
        assert links.status_code == 200, links.text
        assert links.json()["extra_links"]["Forecast page"] == f"{stack.service_url}/models/{SAMPLE_MODEL}"

        backtest = task_log(stack, headers, RETRAIN_DAG_ID, retrain["dag_run_id"], TRAIN_TASK_ID, map_index=0)
        assert f"backtest of {SAMPLE_MODEL}" in backtest and "mase_model" in backtest
        plan = task_log(stack, headers, RETRAIN_DAG_ID, retrain["dag_run_id"], "plan_models")
        assert "series changed by refresh: sample-coffee, sample-flu, sample-tea" in plan
        summary = task_log(stack, headers, REFRESH_DAG_ID, run_id, "summarise")
        assert all(name in summary for name in ("sample-coffee", "sample-tea", "sample-flu", "created"))

        xcom = api_get(stack, headers, f"{train}/xcomEntries/return_value", map_index=0)
        assert xcom.status_code == 200, xcom.text
        trained = xcom.json()["value"]
        assert trained["model"] == SAMPLE_MODEL and trained["status"] == "ready"

        forecast = requests.get(f"{stack.service_url}/api/model/{SAMPLE_MODEL}/predict", timeout=60)
        assert forecast.status_code == 200, forecast.text
        assert forecast.json()["model_version"] == trained["version_id"]
        assert forecast.json()["forecasts"] and all(
            f["prediction"] is not None for f in forecast.json()["forecasts"]
        )
    finally:
        sessions = stack.sessions()
        down = stack.make("down", timeout_s=120)

    assert down.returncode == 0 and "Stopped" in down.stdout, down.stdout + down.stderr
    assert not session_processes(sessions), f"processes of sessions {sessions} outlived make down"
    assert not listening(stack.airflow_port) and not listening(stack.service_port)
    assert not listening(int(gunicorn_port))
    assert not (stack.var / "stack.json").exists()

    again = stack.make("down", timeout_s=60)
    assert again.returncode == 0 and "Nothing to stop" in again.stdout
