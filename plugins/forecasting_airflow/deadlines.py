"""Deadline alerts under Airflow's in-process runner (``airflow dags test``, ``dag.test()``).

That runner of Airflow 3.3.2 schedules the run with a copy of the DAG serialised in memory,
whose ``deadline`` holds the alerts' definitions where the scheduler's copy, read from the
metadata DB, holds the ids of their rows. When the run succeeds, Airflow looks each alert
up by that id to prune the run's deadlines, and a definition fails the lookup: ``'dict'
object has no attribute 'hex'``, a traceback and exit 1 after every task succeeded.

Airflow calls the listener below just before that lookup: it gives the run's DAG the ids
of the alerts stored for the run's DAG version, as the scheduler's copy has them, so the
run's deadline is pruned as under the scheduler. Under the scheduler the DAG already holds
ids and the listener leaves it alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.listeners import hookimpl

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun


@hookimpl
def on_dag_run_success(dag_run: DagRun, msg: str) -> None:
    """Swap alert definitions for the ids of the alerts stored for the run's DAG version."""
    dag = dag_run.dag
    if dag is None or all(isinstance(alert, str) for alert in dag.deadline or ()):
        return
    # Imported here: workers load plugins too, and only the runner that finishes runs needs these.
    from airflow.models.deadline_alert import DeadlineAlert
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    stored = (
        select(DeadlineAlert.id)
        .join(SerializedDagModel, DeadlineAlert.serialized_dag_id == SerializedDagModel.id)
        .where(SerializedDagModel.dag_version_id == dag_run.created_dag_version_id)
    )
    # A session of its own: the runner's session is in the middle of updating the run.
    with create_session(scoped=False) as session:
        dag.deadline = [str(alert_id) for alert_id in session.scalars(stored)]
