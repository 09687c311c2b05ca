"""Plain-text tables for terminals and task logs (the CLI and the Airflow log share them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A JSON- and print-friendly value: datetimes as ISO text, NumPy scalars as Python ones."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(plain(value))


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Left-aligned columns under a header of the first row's keys."""
    header = list(rows[0])
    cells = [[_cell(row.get(key)) for key in header] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *cells]
    )
