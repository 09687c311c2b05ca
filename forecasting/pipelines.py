"""Names shared by the Airflow DAGs, the Airflow plugin, the local stack and the service.

Public interfaces (the DAG ids and param names are given by the issues); the service
triggers runs with these params when it is configured to hand work to Airflow.
"""

REFRESH_DAG_ID = "refresh_trends"
REFRESH_SERIES_PARAM = "series"  # list of series names; empty means all
RETRAIN_DAG_ID = "retrain_models"
RETRAIN_MODELS_PARAM = "models"  # list of model names; empty means all
TRAIN_TASK_ID = "train"  # the mapped task of retrain_models; returns a dict with "model"

SERIES_ASSET = "forecasting_series"  # event extra: {"series": [names whose data changed]}
MODELS_ASSET = "forecasting_models"  # event extra: {"versions": [{"model", "version_id"}]}

STORE_CONNECTION = "forecasting_db"  # Airflow connection of the forecasting store (Postgres)
GOOGLE_CONNECTION = "google_trends"  # Airflow connection whose extras configure pytrends
GOOGLE_POOL = "google_trends"  # Airflow pool capping concurrent refresh batches (calls to Google)
