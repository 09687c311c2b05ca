"""Deadline callbacks: they run in the triggerer when a DAG run misses its deadline."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


async def run_overdue(context: dict[str, Any] | None = None, **_: Any) -> str:
    """Say loudly, in the triggerer's log, which run has not finished in time.

    ``context`` is what the scheduler sends: the run as the REST API shows it, and the deadline.
    """
    run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    message = (
        f"DEADLINE MISSED: {run.get('dag_id', '?')} run {run.get('dag_run_id', '?')} "
        f"(state {run.get('state', '?')}) had not finished by {deadline.get('deadline_time', '?')}"
    )
    log.error(message)
    return message
