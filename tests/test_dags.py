"""The DAG files as Airflow's DagBag parses them: ids, schedules, forms, pools, retry rules."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from forecasting.errors import InvalidInput, NotFound, RateLimited, SourceError, SourceUnavailable
from forecasting.pipelines import (
    GOOGLE_POOL,
    MODELS_ASSET,
    REFRESH_DAG_ID,
    REFRESH_SERIES_PARAM,
    RETRAIN_DAG_ID,
    RETRAIN_MODELS_PARAM,
    SERIES_ASSET,
    TRAIN_TASK_ID,
)
from tests.conftest import REPO

DAG_IDS = {REFRESH_DAG_ID, RETRAIN_DAG_ID}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=REPO / "dags")


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == DAG_IDS


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_every_dag_is_documented_owned_tagged_and_runs_one_at_a_time(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and dag_id.split("_")[0] in dag.doc_md.lower()
    assert "forecasting" in dag.tags and len(dag.tags) >= 2
    assert {task.owner for task in dag.tasks} == {"forecasting"}
    assert dag.max_active_runs == 1
    assert dag.catchup is False


def test_refresh_runs_weekly_on_monday_morning_utc(dagbag) -> None:
    from airflow.sdk import CronTriggerTimetable

    timetable = dagbag.dags[REFRESH_DAG_ID].timetable
    assert isinstance(timetable, CronTriggerTimetable)
    assert (timetable.expression, str(timetable.timezone)) == ("0 6 * * 1", "UTC")


def test_retrain_runs_on_changed_series_or_weekly(dagbag) -> None:
    from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable

    timetable = dagbag.dags[RETRAIN_DAG_ID].timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    assert timetable.asset_condition == Asset(SERIES_ASSET)
    assert isinstance(timetable.timetable, CronTriggerTimetable)
    assert timetable.timetable.expression == "0 12 * * 1"


def test_the_trigger_forms_pick_series_and_models_all_by_default(dagbag) -> None:
    refresh = dagbag.dags[REFRESH_DAG_ID].params
    retrain = dagbag.dags[RETRAIN_DAG_ID].params
    assert refresh[REFRESH_SERIES_PARAM] == [] and retrain[RETRAIN_MODELS_PARAM] == []
    for params, name in ((refresh, REFRESH_SERIES_PARAM), (retrain, RETRAIN_MODELS_PARAM)):
        schema = params.get_param(name).schema
        assert schema["type"] == "array" and schema["items"] == {"type": "string"}
    with pytest.raises(ValueError):
        refresh.get_param("batch_size").resolve(0)
    with pytest.raises(ValueError):
        retrain.get_param("windows").resolve(-1)


def test_refresh_batches_are_mapped_in_the_google_pool(dagbag) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    batch = dagbag.dags[REFRESH_DAG_ID].get_task("refresh_batch")
    assert isinstance(batch, MappedOperator)
    assert batch.pool == GOOGLE_POOL
    assert batch.retries >= 1 and batch.retry_exponential_backoff


def test_models_are_trained_by_a_mapped_task(dagbag) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dagbag.dags[RETRAIN_DAG_ID].get_task(TRAIN_TASK_ID), MappedOperator)


@pytest.mark.parametrize(
    ("error", "action", "delay"),
    [
        (RateLimited("s", "429"), "retry", timedelta(seconds=1800)),
        (SourceUnavailable("s", "503"), "retry", None),
        (SourceError("s", "400"), "fail", None),
        (InvalidInput("bad param"), "fail", None),
        (NotFound("unknown series: s"), "fail", None),
        (OSError("database went away"), "default", None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_the_retry_policy_waits_long_on_429_and_never_retries_what_cannot_pass(
    dagbag, error: Exception, action: str, delay: timedelta | None
) -> None:
    policy = dagbag.dags[REFRESH_DAG_ID].get_task("refresh_batch").partial_kwargs["retry_policy"]

    decision = policy.evaluate(error, try_number=1, max_tries=4)

    assert (decision.action.value, decision.retry_delay) == (action, delay)


def test_the_refresh_raises_a_deadline_alert_and_both_dags_serialise(dagbag) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    (alert,) = dagbag.dags[REFRESH_DAG_ID].deadline
    assert alert.interval == timedelta(hours=6)
    assert alert.callback.path == "forecasting_airflow.alerts.run_overdue"
    for dag_id in DAG_IDS:
        serialised = DagSerialization.to_dict(dagbag.dags[dag_id])
        assert serialised["dag"]["dag_id"] == dag_id


def test_the_tasks_announce_their_assets(dagbag) -> None:
    from airflow.sdk import Asset

    assert dagbag.dags[REFRESH_DAG_ID].get_task("publish_changes").outlets == [Asset(SERIES_ASSET)]
    assert dagbag.dags[RETRAIN_DAG_ID].get_task("publish_versions").outlets == [Asset(MODELS_ASSET)]


PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "files": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
    "heavy": sorted({m.split(".")[0] for m in sys.modules} & {"pandas", "lightgbm", "pytrends"}),
}))
"""


def test_dag_files_parse_fast_and_import_nothing_heavy(airflow_db: Path) -> None:
    """Parsed in a fresh interpreter, as the DAG processor does: no pandas, LightGBM or pytrends."""
    out = subprocess.run(
        [sys.executable, "-c", PARSE, str(REPO / "dags")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    parsed = json.loads(out.strip().splitlines()[-1])
    assert set(parsed["files"]) == {"refresh_trends.py", "retrain_models.py"}
    assert all(seconds < 0.5 for seconds in parsed["files"].values()), parsed["files"]
    assert parsed["heavy"] == []


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_a_new_deployment_waits_for_the_next_scheduled_time(dagbag, dag_id: str) -> None:
    """No start date: unpausing a DAG does not start a run for a slot that has already passed."""
    from airflow.sdk import timezone
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dagbag.dags[dag_id].timetable)
    restriction = TimeRestriction(earliest=None, latest=None, catchup=False)

    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)

    assert dagbag.dags[dag_id].start_date is None
    assert first is not None and first.run_after > timezone.utcnow()
