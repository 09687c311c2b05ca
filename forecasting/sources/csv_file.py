"""Series read from a CSV file, for when Google blocks scripted access.

Reads the file the Google Trends website exports (``multiTimeline.csv``), plain
``time,value`` CSV and wide CSV with one column per series. The website's header
words are localised ("Category:", "Week", "Тиждень", "Month", ...), so the parser
never looks at them: the first line whose first cell is a date starts the data and
the line just above it is the header.

Dates are ISO ``YYYY-MM-DD`` or ``YYYY-MM`` (a monthly export; read as the first
day of the month), or any layout given as ``date_format`` (e.g. ``%m/%d/%y``).

The website writes ``<1`` for a value above zero but below one. It is read as
``less_than_one``: 0.5 by default, the midpoint of [0, 1), which is the least
biased guess; ``less_than_one=0`` gives a conservative floor instead.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from forecasting.errors import InvalidInput, SourceError
from forecasting.sources.base import SeriesSpec, reject_unknown

PARAMS = {"path", "column", "less_than_one", "date_format"}
LESS_THAN_ONE = "<1"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MONTH = re.compile(r"\d{4}-\d{2}")
_TERM_SUFFIX = ": ("  # a Google Trends column is "<term>: (<geo>)"


class CsvSource:
    name: ClassVar[str] = "csv"
    synthetic: ClassVar[bool] = False

    def validate_params(self, series: str, params: Mapping[str, Any]) -> dict[str, Any]:
        reject_unknown(series, params, PARAMS, self.name)
        if params.get("path") in (None, ""):
            raise InvalidInput(f"series {series!r}: param path is required for source 'csv'")
        path = Path(str(params["path"])).expanduser().resolve()
        if not path.is_file():
            raise InvalidInput(f"series {series!r}: file not found: {path}")
        return {"path": str(path), **_read_options(series, params)}

    def download(self, series: SeriesSpec) -> pd.DataFrame:
        path = Path(str(series.params.get("path", "")))
        options = _read_options(series.name, series.params)
        try:
            return read_trends_csv(path, **options)
        except OSError as exc:
            raise SourceError(series.name, f"cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise SourceError(series.name, f"{path}: {exc}") from None


def read_trends_csv(
    source: str | Path | io.TextIOBase,
    column: str | None = None,
    less_than_one: float = 0.5,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Parse a Google Trends export or a plain/wide CSV into ``time``/``value`` rows.

    ``source`` is a file path or an open text stream. ``column`` picks the value
    column by its exact header or by the Google term before ``": ("``; it may be
    omitted when there is one value column. Rows whose chosen cell is empty are
    dropped (a column that starts late). Raises ValueError naming the line at fault.
    """
    if isinstance(source, io.TextIOBase):
        text = source.read()
    else:
        text = Path(source).read_text(encoding="utf-8-sig")
    rows = _numbered_rows(text.removeprefix("\ufeff"))

    start = next(
        (i for i, (_, cells) in enumerate(rows) if _parse_time(cells[0], date_format) is not None),
        None,
    )
    if start is None:
        expected = f"a date in the format {date_format!r}" if date_format else "YYYY-MM-DD or YYYY-MM"
        raise ValueError(f"no data rows: no line starts with {expected}")
    first_line = rows[start][0]
    if start == 0 or rows[start - 1][0] != first_line - 1:
        raise ValueError(f"no header line just above the first data row (line {first_line})")
    header = [cell.strip() for cell in rows[start - 1][1]]
    index = _column_index(header, column)

    times: list[datetime] = []
    values: list[float] = []
    for line, cells in rows[start:]:
        if len(cells) != len(header):
            raise ValueError(f"line {line} has {len(cells)} cells but the header has {len(header)}")
        time = _parse_time(cells[0], date_format)
        if time is None:
            raise ValueError(f"line {line}: {cells[0]!r} is not a date like the rows above it")
        cell = cells[index].strip()
        if cell == "":
            continue
        times.append(time)
        values.append(_parse_value(cell, less_than_one, line, header[index]))
    if not times:
        raise ValueError(f"no data rows: column {header[index]!r} has no values")
    return pd.DataFrame({"time": pd.to_datetime(times), "value": pd.Series(values, dtype="float64")})


def _read_options(series: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parsing params in their normalised types; text from the CLI is converted."""
    options: dict[str, Any] = {}
    if params.get("column") is not None:
        column = str(params["column"]).strip()
        if not column:
            raise InvalidInput(f"series {series!r}: param column is empty")
        options["column"] = column
    raw = params.get("less_than_one", 0.5)
    try:
        less_than_one = float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"series {series!r}: param less_than_one={raw!r} is not a number") from None
    if not 0 <= less_than_one < 1:
        raise InvalidInput(
            f"series {series!r}: param less_than_one must be >= 0 and < 1, got {less_than_one}"
        )
    options["less_than_one"] = less_than_one
    if params.get("date_format") is not None:
        date_format = str(params["date_format"])
        if "%" not in date_format:
            raise InvalidInput(
                f"series {series!r}: param date_format={date_format!r} has no % directive (e.g. %m/%d/%y)"
            )
        options["date_format"] = date_format
    return options


def _numbered_rows(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with their 1-based line numbers, for messages."""
    reader = csv.reader(io.StringIO(text))
    return [(reader.line_num, cells) for cells in reader if any(cell.strip() for cell in cells)]


def _parse_time(cell: str, date_format: str | None) -> datetime | None:
    cell = cell.strip()
    if date_format:
        try:
            return datetime.strptime(cell, date_format)
        except ValueError:
            return None
    try:
        if _ISO_DAY.fullmatch(cell):
            return datetime.strptime(cell, "%Y-%m-%d")
        if _ISO_MONTH.fullmatch(cell):
            return datetime.strptime(cell, "%Y-%m")
    except ValueError:
        return None
    return None


def _column_index(header: list[str], column: str | None) -> int:
    """Index of the value column: exact header first, then the Google term."""
    names = header[1:]
    if not names:
        raise ValueError("the header has no value column after the time column")
    listing = ", ".join(repr(name) for name in names)
    if column is None:
        if len(names) == 1:
            return 1
        raise ValueError(f"{len(names)} value columns, choose one with param column: {listing}")
    if column in names:
        return names.index(column) + 1
    by_term = [i for i, name in enumerate(names) if name.split(_TERM_SUFFIX)[0].strip() == column]
    if len(by_term) == 1:
        return by_term[0] + 1
    if by_term:
        raise ValueError(f"column {column!r} matches several columns, give one exactly: {listing}")
    raise ValueError(f"column {column!r} not found; available columns: {listing}")


def _parse_value(cell: str, less_than_one: float, line: int, column: str) -> float:
    if cell == LESS_THAN_ONE:
        return less_than_one
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"line {line}: value {cell!r} in column {column!r} is not a number")
    return value
