"""What the DAGs need from Airflow: connections to the store and to Google, alerts.

Lives in plugins/ because Airflow puts that folder on ``sys.path`` of every component
(scheduler, workers, triggerer); ``.airflowignore`` keeps the plugin loader out.
"""
