"""
### Retrain forecasting models

Backtests, trains and registers a new version of each affected model. It runs
when `refresh_trends` announces changed series (asset `forecasting_series`): then
only the models whose data config uses one of those series are trained. It also runs
weekly (all models) and on demand (the models named in the trigger form, else all).

- **plan_models** decides which models to train.
- **train** (mapped per model) backtests on rolling cut-offs, fits on all data and
  registers the version; its log shows the backtest table. The version becomes
  `ready` only once its artifact loads back and predicts; the task fails otherwise.
  The task's "Forecast page" link opens the model's page in the forecasting service.
- **summarise** logs every model's new version, status and backtest MASE.
- **publish_versions** emits an event of asset `forecasting_models` listing the new
  ready versions (skipped when there are none).
- **fail_on_errors** fails the run when any model failed.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    Param,
    TriggerRule,
    dag,
    task,
)
from airflow.sdk.exceptions import AirflowFailException
from forecasting_airflow.forms import names
from forecasting_airflow.schedules import weekly
from forecasting_airflow.tasks import announce, fail_on_errors, mapped_results

from forecasting.limits import DEFAULT_WINDOWS, MAX_WINDOWS
from forecasting.pipelines import (
    MODELS_ASSET,
    RETRAIN_DAG_ID,
    RETRAIN_MODELS_PARAM,
    SERIES_ASSET,
    TRAIN_TASK_ID,
)

log = logging.getLogger(__name__)

SERIES = Asset(SERIES_ASSET)
MODELS = Asset(MODELS_ASSET)


@dag(
    dag_id=RETRAIN_DAG_ID,
    doc_md=__doc__,
    # New data, or Monday after the weekly refresh has had time to finish.
    schedule=AssetOrTimeSchedule(timetable=weekly("0 12 * * 1"), assets=SERIES),
    catchup=False,
    max_active_runs=1,
    tags=["forecasting", "models"],
    default_args={"owner": "forecasting"},
    params={
        RETRAIN_MODELS_PARAM: names("Models", "models to retrain"),
        "windows": Param(
            DEFAULT_WINDOWS,
            type="integer",
            minimum=0,
            maximum=MAX_WINDOWS,
            title="Backtest windows",
            description="Rolling-origin cut-offs of the backtest; 0 skips it (and the MASE).",
        ),
        "gate": Param(
            False,
            type="boolean",
            title="Gate on the naive baseline",
            description="Refuse to serve a version whose backtest is worse than the seasonal naive forecast.",
        ),
    },
)
def retrain_models() -> None:
    @task
    def plan_models(params: dict[str, Any], triggering_asset_events: Any = None) -> list[str]:
        from forecasting_airflow.connections import store

        from forecasting.configs import models_to_train

        events = triggering_asset_events[SERIES] if triggering_asset_events else []
        changed = sorted({name for event in events for name in event.extra.get("series", [])})
        if changed:
            log.info("series changed by refresh: %s", ", ".join(changed))
        with store() as engine:
            with engine.connect() as conn:
                models = models_to_train(conn, params[RETRAIN_MODELS_PARAM], changed if events else None)
        log.info("models to train: %s", ", ".join(models) or "(none)")
        return models

    @task(task_id=TRAIN_TASK_ID, map_index_template="{{ model }}")
    def train(model: str, params: dict[str, Any]) -> dict[str, Any]:
        from forecasting_airflow.connections import store

        from forecasting.training import train_model

        with store() as engine:
            result = train_model(
                engine, model, windows=params["windows"], gate=params["gate"], progress=log.info
            )
        if result.backtest:
            log.info("backtest of %s:\n%s", model, result.backtest.report())
        log.info("model %s version %d: %s", model, result.version_id, result.status)
        if result.status != "ready":
            raise AirflowFailException(
                f"model {model} version {result.version_id} is {result.status}: {result.reason}"
            )
        return result.as_dict()

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def summarise(models: list[str], trained: Any) -> dict[str, list[Any]]:
        from forecasting.tables import format_table

        results = {row["model"]: row for row in mapped_results(trained)}
        failed = {"status": "failed: see its train task's log"}
        rows = [results.get(name) or {"model": name, **failed} for name in models]
        log.info("new versions:\n%s", format_table(rows) if rows else "(no model to train)")
        return {
            "versions": [{"model": r["model"], "version_id": r["version_id"]} for r in results.values()],
            "failed": [name for name in models if name not in results],
        }

    models = plan_models()
    trained = train.expand(model=models)
    summary = summarise(models, trained)
    published = announce.override(task_id="publish_versions", outlets=[MODELS])(summary, "versions")
    published >> fail_on_errors(summary)


retrain_models()
