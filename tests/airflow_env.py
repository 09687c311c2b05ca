"""Airflow configuration for the tests, set before anything imports Airflow.

Airflow reads its configuration once, at import; so ``configure()`` runs when the
test session starts (tests/conftest.py) and points Airflow at a throwaway home with
SQLite metadata, this repository's dags/ and plugins/, and no example DAGs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def configure() -> Path:
    """Set Airflow's environment for this process and its children; returns AIRFLOW_HOME."""
    home = Path(os.environ.get("FORECASTING_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="airflow-test-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    return home
