"""Names of the Airflow DAGs and of their trigger-form params: shared by the DAGs and the service.

Public interfaces (issue-given DAG ids); the service triggers runs with these
params when it is configured to hand work to Airflow.
"""

REFRESH_DAG_ID = "refresh_trends"
REFRESH_SERIES_PARAM = "series"  # list of series names; empty means all
RETRAIN_DAG_ID = "retrain_models"
RETRAIN_MODELS_PARAM = "models"  # list of model names; empty means all
