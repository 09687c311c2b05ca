"""Airflow plugin: ``airflow dags test`` runs a DAG with a deadline alert to its end.

Its listener works around a bug of Airflow 3.3.2's in-process runner (see
``forecasting_airflow.deadlines``); the scheduler's runs are left as they are.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from forecasting_airflow import deadlines


class DagTestDeadlinesPlugin(AirflowPlugin):
    """Registers the listener that lets the in-process runner prune a finished run's deadlines."""

    name = "forecasting_dag_test_deadlines"
    listeners = [deadlines]
