"""
### Refresh Google Trends series

Downloads every series (or those named in the trigger form) and stores them with
version detection: rows that extend the current version are appended, a changed past
(Google renormalises history) becomes a new version.

- **record_states** records each series' current version and value count.
- **plan_batches** splits the series into batches (`batch_size` per mapped task).
- **refresh_batch** (mapped, in the `google_trends` pool, which caps concurrent calls
  to Google) downloads a batch and stores it in one transaction. Series that failed
  fail the batch after the others are stored: a 429 is retried much later
  (`[forecasting] rate_limit_retry_delay`), a server error or timeout with exponential
  backoff, a 400 or bad params not at all.
- **summarise** logs every series' outcome and finds the series that changed.
- **publish_changes** emits an event of asset `forecasting_series` naming them
  (skipped when nothing changed); `retrain_models` runs on it.
- **fail_on_errors** fails the run when any series failed.

Where the data lives: Airflow connection `forecasting_db`, else `FORECASTING_DATABASE_URL`.
Google settings: connection `google_trends` (extras hl, tz, geo, retries, backoff, proxies).
CSV files are read only under `FORECASTING_CSV_ROOTS`, else `[forecasting] csv_roots`.
A run still going 6 hours after it was queued (`[forecasting] refresh_deadline_hours`) raises a
deadline alert in the triggerer log.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import (
    Asset,
    AsyncCallback,
    DeadlineAlert,
    DeadlineReference,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    TriggerRule,
    conf,
    dag,
    task,
)
from forecasting_airflow.forms import names
from forecasting_airflow.schedules import weekly
from forecasting_airflow.tasks import announce, fail_on_errors, mapped_results

from forecasting.limits import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
from forecasting.pipelines import GOOGLE_POOL, REFRESH_DAG_ID, REFRESH_SERIES_PARAM, SERIES_ASSET

log = logging.getLogger(__name__)

SERIES = Asset(SERIES_ASSET)

# 0 turns the alert off.
DEADLINE_HOURS = conf.getfloat("forecasting", "refresh_deadline_hours", fallback=6)
RATE_LIMIT_DELAY = timedelta(seconds=conf.getint("forecasting", "rate_limit_retry_delay", fallback=1800))
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="forecasting.errors.RateLimited",
            retry_delay=RATE_LIMIT_DELAY,
            reason="Google is rate-limiting this address: asking again soon would only prolong it",
        ),
        RetryRule(
            exception="forecasting.errors.SourceUnavailable",
            reason="Google failed or timed out: retry with exponential backoff",
        ),
        RetryRule(
            exception="forecasting.errors.ForecastingError",
            action=RetryAction.FAIL,
            reason="bad params or an answer like 400 that no retry can fix",
        ),
    ]
)


@dag(
    dag_id=REFRESH_DAG_ID,
    doc_md=__doc__,
    schedule=weekly("0 6 * * 1"),  # Monday morning: last week is complete
    catchup=False,
    max_active_runs=1,
    tags=["forecasting", "google-trends", "data"],
    default_args={"owner": "forecasting"},
    deadline=[
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=DEADLINE_HOURS),
            callback=AsyncCallback("forecasting_airflow.alerts.run_overdue"),
        )
    ]
    if DEADLINE_HOURS
    else None,
    params={
        REFRESH_SERIES_PARAM: names("Series", "series to refresh"),
        "batch_size": Param(
            DEFAULT_BATCH_SIZE,
            type="integer",
            minimum=1,
            maximum=MAX_BATCH_SIZE,
            title="Series per batch",
            description="Each batch is one mapped task: one transaction, retried on its own.",
        ),
    },
)
def refresh_trends() -> None:
    @task
    def record_states(params: dict[str, Any]) -> dict[str, Any]:
        from forecasting_airflow.connections import store

        from forecasting.batches import record_states

        with store() as engine:
            return record_states(engine, params[REFRESH_SERIES_PARAM])

    @task
    def plan_batches(before: dict[str, Any], params: dict[str, Any]) -> list[list[str]]:
        from forecasting.batches import split

        batches = split(list(before), params["batch_size"])
        log.info("%d series in %d batches", len(before), len(batches))
        return batches

    @task(
        pool=GOOGLE_POOL,
        retries=conf.getint("forecasting", "refresh_retries", fallback=3),
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(hours=1),
        retry_policy=RETRY_POLICY,
        map_index_template="{{ task.op_kwargs['series'][0] }} ({{ task.op_kwargs['series'] | length }})",
    )
    def refresh_batch(series: list[str]) -> list[dict[str, Any]]:
        from forecasting_airflow.connections import sources, store

        from forecasting.batches import batch_failure
        from forecasting.refresh import refresh
        from forecasting.tables import format_table

        done = iter(range(1, len(series) + 1))
        with store() as engine:
            results = refresh(
                engine,
                series,
                sources=sources(),
                progress=lambda name: log.info("downloaded %d/%d: %s", next(done), len(series), name),
            )
        rows = [r.as_dict() for r in results]
        log.info("batch outcome:\n%s", format_table(rows))
        failure = batch_failure(results)
        if failure is not None:
            raise failure
        return rows

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def summarise(before: dict[str, Any], batches: Any) -> dict[str, list[str]]:
        from forecasting_airflow.connections import store

        from forecasting.batches import changed_series
        from forecasting.tables import format_table

        outcomes = {row["series"]: row for batch in mapped_results(batches) for row in batch}
        with store() as engine:
            changed = changed_series(engine, before)
        missing = {"outcome": "error", "error": "its batch failed: see that refresh_batch task's log"}
        rows = [
            {**(outcomes.get(name) or {"series": name, **missing}), "changed": name in changed}
            for name in before
        ]
        failed = [row["series"] for row in rows if row["outcome"] == "error"]
        log.info("every series:\n%s", format_table(rows) if rows else "(no series)")
        log.info("%d series, %d changed, %d failed", len(rows), len(changed), len(failed))
        return {"series": changed, "failed": failed}

    before = record_states()
    batches = refresh_batch.expand(series=plan_batches(before))
    summary = summarise(before, batches)
    published = announce.override(task_id="publish_changes", outlets=[SERIES])(summary, "series")
    published >> fail_on_errors(summary)


refresh_trends()
