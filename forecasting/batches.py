"""A refresh run split into batches, as an orchestrator runs it (the Airflow DAGs).

A run records every series' state before any batch runs. Batches may then be
retried or fail; afterwards the series that changed are found by comparing states,
so a change stored by an attempt that later failed is still reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from forecasting.errors import InvalidInput, RateLimited, SourceUnavailable
from forecasting.limits import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
from forecasting.refresh import RefreshResult
from forecasting.series import SeriesState, series_states


def record_states(engine: Engine, names: Sequence[str] = ()) -> dict[str, SeriesState]:
    """The state of each named series (all when none are named), in name order; one SELECT."""
    with engine.connect() as conn:
        return series_states(conn, list(names) or None)


def split(names: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> list[list[str]]:
    """Consecutive batches of at most ``batch_size`` names."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"batch size must be between 1 and {MAX_BATCH_SIZE}, not {batch_size}")
    return [list(names[i : i + batch_size]) for i in range(0, len(names), batch_size)]


def changed_series(engine: Engine, before: Mapping[str, Sequence[Any]]) -> list[str]:
    """The series of ``before`` whose state differs now; series deleted meanwhile are left out."""
    with engine.connect() as conn:
        now = series_states(conn)
    return [name for name, state in before.items() if name in now and tuple(state) != now[name]]


def batch_failure(results: Sequence[RefreshResult]) -> Exception | None:
    """The failure that decides how a batch is retried, or None when every series succeeded.

    A rate limit wins (retry much later), then a passing outage (retry soon), then
    anything else (a retry cannot help).
    """
    failures = [r.exception for r in results if r.exception is not None]
    for kind in (RateLimited, SourceUnavailable):
        for exc in failures:
            if isinstance(exc, kind):
                return exc
    return failures[0] if failures else None
