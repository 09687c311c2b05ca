"""The DAGs' weekly schedule."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable


def weekly(cron: str) -> CronTriggerTimetable:
    """A cron schedule in UTC whose first run is the next slot to come.

    The DAGs have no start date, and ``run_immediately=False`` would still start a run
    at once for a slot missed by less than a tenth of a week; a zero delta never does.
    """
    return CronTriggerTimetable(cron, timezone="UTC", run_immediately=timedelta(0))
