"""Airflow plugin: the forecast service's pages inside the Airflow UI.

A "Forecasts" nav entry embeds the service's model list, and a "Forecast page" link on
each mapped instance of the retrain DAG's train task opens the page of the model that
instance trained. Both point at ``[forecasting] service_url``
(``AIRFLOW__FORECASTING__SERVICE_URL``): the address the user's browser reaches the
service at, since the browser, not the API server, loads these pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from forecasting.pipelines import RETRAIN_DAG_ID, TRAIN_TASK_ID

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey

CONFIG_SECTION = "forecasting"
SERVICE_URL_KEY = "service_url"
DEFAULT_SERVICE_URL = "http://127.0.0.1:8000"


def service_url() -> str:
    """The configured service base URL, without a trailing slash so paths can be appended."""
    return conf.get(CONFIG_SECTION, SERVICE_URL_KEY, fallback=DEFAULT_SERVICE_URL).rstrip("/")


def trained_model(ti_key: TaskInstanceKey) -> str | None:
    """The ``"model"`` of the task instance's return value, or None if it has none (yet).

    The API server evaluates links without the task at hand, so the name is read from the
    return-value XCom in the metadata DB, where a run stores the returned dict as JSON.
    """
    # Imported here: the workers load plugins too, and only the API server evaluates links.
    from airflow.models.xcom import XCOM_RETURN_KEY, XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = session.scalar(
            XComModel.get_many(
                key=XCOM_RETURN_KEY,
                run_id=ti_key.run_id,
                dag_ids=ti_key.dag_id,
                task_ids=ti_key.task_id,
                map_indexes=ti_key.map_index,
            ).with_only_columns(XComModel.value)
        )
    model = value.get("model") if isinstance(value, dict) else None
    return model if isinstance(model, str) and model else None


class ForecastPageLink(BaseOperatorLink):
    """Link from a train task instance to the page of the model it trained.

    Registered as a global link because the train task is a plain ``@task`` with no
    operator class of its own to carry it; an empty URL, which the UI does not show,
    is returned for every other task and for a train instance that returned no model.
    """

    name = "Forecast page"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        if ti_key.dag_id != RETRAIN_DAG_ID or ti_key.task_id != TRAIN_TASK_ID:
            return ""
        model = trained_model(ti_key)
        # A model name is free text: quote everything, "/" included, to keep it one path segment.
        return f"{service_url()}/models/{quote(model, safe='')}" if model else ""


class ForecastingPlugin(AirflowPlugin):
    """The nav entry and the train-task link; the service URL is read when the plugin loads."""

    name = "forecasting"
    external_views = [
        {
            "name": "Forecasts",
            "href": f"{service_url()}/",
            # A url_route makes the UI embed the page in an iframe instead of leaving Airflow.
            "url_route": "forecasts",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
    global_operator_extra_links = [ForecastPageLink()]
