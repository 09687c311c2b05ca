"""What both DAGs end with: read the mapped results, announce what is new, fail if part failed.

A run's state follows its last tasks only, so a failed mapped task (one batch, one
model) would otherwise leave the run green once the rest of it went on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

log = logging.getLogger(__name__)


def mapped_results(results: Sequence[Any]) -> list[Any]:
    """The return values of a mapped task's instances that succeeded.

    Read by index up to the length: iterating the lazy sequence probes one item past
    its end, which Airflow logs as an error.
    """
    return [results[i] for i in range(len(results))]


@task
def announce(summary: dict[str, Any], key: str, **context: Any) -> list[Any]:
    """Emit an event of this task's outlet asset with extra ``{key: summary[key]}``.

    Skipped when ``summary[key]`` is empty, so that nothing new emits no event.
    """
    items = summary[key]
    if not items:
        raise AirflowSkipException(f"nothing new ({key} is empty): no asset event")
    for asset in context["task"].outlets:
        context["outlet_events"][asset].extra = {key: items}
    log.info("asset event with %d %s", len(items), key)
    return items


@task(trigger_rule=TriggerRule.NONE_FAILED)
def fail_on_errors(summary: dict[str, Any]) -> None:
    """Fail the run, after what succeeded was stored and announced, when any item failed."""
    failed = summary["failed"]
    if failed:
        raise AirflowFailException(f"{len(failed)} failed: {', '.join(failed)} (see the summary task's log)")
