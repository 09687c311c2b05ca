"""The DAGs run end to end with ``dag.test()`` against the real Postgres store.

Airflow runs every task in this process (metadata in a throwaway SQLite), the store
comes from the ``forecasting_db`` connection (an ``AIRFLOW_CONN_*`` variable), and
Google is the real pytrends code answering from recorded cassettes. The shipped DAGs,
deadline alert included, also pass ``airflow dags test`` run as a user runs it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from pytrends.request import TrendReq
from sqlalchemy import Engine, select

from forecasting.apply import apply_file
from forecasting.models import MLModelVersion
from forecasting.pipelines import (
    GOOGLE_CONNECTION,
    REFRESH_DAG_ID,
    REFRESH_SERIES_PARAM,
    RETRAIN_DAG_ID,
    SERIES_ASSET,
    STORE_CONNECTION,
)
from forecasting.series import series_states
from tests.cassettes import load_cassette, register, url_pattern
from tests.conftest import AIRFLOW, REPO, SAMPLE_MODEL, SAMPLE_YAML
from tests.store_checks import define

pytestmark = pytest.mark.postgres

SAMPLE_SERIES = ["sample-coffee", "sample-flu", "sample-tea"]


@pytest.fixture
def airflow(airflow_db: Path, pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Airflow's connections to the emptied Postgres store and to a Google that never retries."""
    url = pg_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv(f"AIRFLOW_CONN_{STORE_CONNECTION.upper()}", url)
    extras = {"retries": "0", "backoff": "0"}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{GOOGLE_CONNECTION.upper()}", json.dumps({"conn_type": "generic", "extra": extras})
    )
    yield pg_engine


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=REPO / "dags")
    assert not bag.import_errors
    return bag.dags[dag_id]


def run_dag(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Run the DAG once: its state, each task instance's state and tries, its summary and asset events."""
    from airflow.models.asset import AssetEvent
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = load_dag(dag_id).test(run_conf=conf)
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        events = session.scalars(
            select(AssetEvent).where(
                AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run.run_id
            )
        ).all()
        summary = session.scalar(
            XComModel.get_many(
                run_id=run.run_id, dag_ids=dag_id, task_ids="summarise", key="return_value"
            ).with_only_columns(XComModel.value)
        )
        return {
            "state": run.state,
            "summary": summary,
            "tasks": {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in tis},
            "events": [(event.asset.name, event.extra) for event in events],
        }


def states(result: dict[str, Any], task_id: str) -> list[str]:
    return [state for (task, _), (state, _) in sorted(result["tasks"].items()) if task == task_id]


def test_refresh_announces_changed_series_once_and_retrain_registers_a_ready_version(
    airflow: Engine,
) -> None:
    apply_file(airflow, SAMPLE_YAML)

    first = run_dag(REFRESH_DAG_ID, {REFRESH_SERIES_PARAM: [], "batch_size": 2})

    assert first["state"] == "success"
    assert states(first, "refresh_batch") == ["success", "success"]  # 3 series in batches of 2
    assert first["events"] == [(SERIES_ASSET, {"series": SAMPLE_SERIES})]
    with airflow.connect() as conn:
        stored = series_states(conn)
    assert all(version is not None and count > 200 for version, count in stored.values())

    second = run_dag(REFRESH_DAG_ID, {REFRESH_SERIES_PARAM: [], "batch_size": 2})

    assert second["state"] == "success"
    assert states(second, "publish_changes") == ["skipped"]
    assert second["events"] == []
    with airflow.connect() as conn:
        assert series_states(conn) == stored

    retrain = run_dag(RETRAIN_DAG_ID, {"models": [], "windows": 2})

    assert retrain["state"] == "success"
    assert states(retrain, "train") == ["success"]
    with airflow.connect() as conn:
        versions = conn.execute(select(MLModelVersion.id, MLModelVersion.status)).all()
    assert [status for _, status in versions] == ["ready"]
    ((name, extra),) = retrain["events"]
    assert extra == {"versions": [{"model": SAMPLE_MODEL, "version_id": versions[0].id}]}


@pytest.fixture
def google_rate_limits(shared_data: Path) -> Iterator[responses.RequestsMock]:
    """Google lets the cookie and token requests through and answers every timeline with 429."""
    recorded = load_cassette(shared_data / "pytrends-cassettes" / "test_interest_over_time_partial.yaml")
    timeline = url_pattern(TrendReq.INTEREST_OVER_TIME_URL)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as google:
        google.add(responses.GET, timeline, status=429, body="Too Many Requests")
        register(google, [i for i in recorded if not timeline.match(i.uri)])
        yield google


def test_a_google_429_fails_only_its_batch_after_its_retries(
    airflow: Engine, google_rate_limits: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__FORECASTING__REFRESH_RETRIES", "1")
    monkeypatch.setenv("AIRFLOW__FORECASTING__RATE_LIMIT_RETRY_DELAY", "1")
    define(airflow, "pizza", source="google_trends", params={"keyword": "pizza"})
    define(airflow, "sample-a", "sample-b")

    result = run_dag(REFRESH_DAG_ID, {REFRESH_SERIES_PARAM: [], "batch_size": 1})

    batches = {index: state for (task, index), state in result["tasks"].items() if task == "refresh_batch"}
    # batches in name order: pizza, sample-a, sample-b; the 429 batch was tried twice
    assert batches == {0: ("failed", 2), 1: ("success", 1), 2: ("success", 1)}
    assert result["summary"] == {"series": ["sample-a", "sample-b"], "failed": ["pizza"]}
    assert result["events"] == [(SERIES_ASSET, {"series": ["sample-a", "sample-b"]})]
    assert states(result, "fail_on_errors") == ["failed"]
    assert result["state"] == "failed"
    timeline = url_pattern(TrendReq.INTEREST_OVER_TIME_URL)
    assert sum(timeline.match(call.request.url) is not None for call in google_rate_limits.calls) == 2
    with airflow.connect() as conn:
        assert series_states(conn)["pizza"] == (None, 0)


@pytest.mark.parametrize("dag_id", [REFRESH_DAG_ID, RETRAIN_DAG_ID])
def test_airflow_dags_test_runs_each_shipped_dag_to_success(airflow: Engine, dag_id: str) -> None:
    """The CLI command users debug a DAG with, on the shipped configuration (a 6-hour deadline)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.deadline_alert import DeadlineAlert
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    define(airflow, "sample-a", "sample-b")

    done = subprocess.run([AIRFLOW, "dags", "test", dag_id], capture_output=True, text=True, timeout=300)

    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-5000:]
    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).one()
        alerts = session.scalars(
            select(DeadlineAlert.id)
            .join(SerializedDagModel, DeadlineAlert.serialized_dag_id == SerializedDagModel.id)
            .where(SerializedDagModel.dag_version_id == run.created_dag_version_id)
        ).all()
    assert run.state == "success"
    assert len(alerts) == (1 if dag_id == REFRESH_DAG_ID else 0)  # the run kept the refresh's deadline
    refreshed = 260 if dag_id == REFRESH_DAG_ID else 0  # the retrain, with no model, leaves them alone
    with airflow.connect() as conn:
        counts = {name: count for name, (_, count) in series_states(conn).items()}
    assert counts == {"sample-a": refreshed, "sample-b": refreshed}
