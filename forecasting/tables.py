"""Plain-text tables for terminals and task logs (the CLI and the Airflow log share them)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A JSON- and print-friendly value: datetimes as ISO text, NumPy scalars as Python ones."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def reported(value: Any) -> Any:
    """A figure as reports show it: floats to 6 places, NaN and infinities as None, NumPy ints as int."""
    if isinstance(value, float | np.floating):
        return round(float(value), 6) if math.isfinite(value) else None
    return int(value) if isinstance(value, np.integer) else value


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
