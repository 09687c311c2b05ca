"""Trigger-form fields the DAGs share."""

from __future__ import annotations

from airflow.sdk import Param


def names(title: str, what: str) -> Param:
    """A list of names, one per line in the form; empty means every one of ``what``."""
    return Param(
        [],
        type="array",
        items={"type": "string"},
        title=title,
        description=f"Names of the {what}, one per line; empty means every one.",
    )
