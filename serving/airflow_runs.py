"""Hand long work to Airflow: trigger a DAG run through its REST API (v2, Airflow 3).

Used when ``FORECASTING_AIRFLOW_URL`` and credentials are set; the API answers 202
with the run id instead of training or downloading inline.
"""

from __future__ import annotations

from typing import Any

import requests

from serving.errors import UpstreamError
from serving.settings import Settings

TIMEOUT_S = 10.0


class AirflowClient:
    """Obtains a JWT from ``/auth/token`` and posts to ``/api/v2/dags/{dag_id}/dagRuns``."""

    def __init__(self, url: str, username: str, password: str, ui_url: str | None = None):
        """``ui_url`` is where a browser reaches Airflow (in compose not ``url``, an internal name)."""
        self.url = url.rstrip("/")
        self.ui_url = (ui_url or url).rstrip("/")
        self._credentials = {"username": username, "password": password}

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        token = self._required(self._call("post", "/auth/token", json=self._credentials), "access_token")
        run = self._call(
            "post",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf},
            headers={"Authorization": f"Bearer {token}"},
        )
        run_id = self._required(run, "dag_run_id")
        return {
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "state": run.get("state"),
            "conf": conf,
            "url": f"{self.ui_url}/dags/{dag_id}/runs/{run_id}",
        }

    @staticmethod
    def _required(answer: Any, key: str) -> Any:
        if not isinstance(answer, dict) or not answer.get(key):
            raise UpstreamError(f"Airflow's answer has no {key!r}: {str(answer)[:300]}")
        return answer[key]

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = requests.request(method, self.url + path, timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise UpstreamError(f"Airflow at {self.url} is unreachable: {exc}") from None
        if not response.ok:
            detail = response.text.strip()[:300]
            raise UpstreamError(f"Airflow answered {response.status_code} to {path}: {detail}")
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"Airflow answered {path} with non-JSON content") from None


def client(settings: Settings) -> AirflowClient | None:
    if not settings.uses_airflow:
        return None
    return AirflowClient(
        settings.airflow_url, settings.airflow_username, settings.airflow_password, settings.airflow_ui_url
    )
