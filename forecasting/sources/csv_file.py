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

Files are read only inside the configured roots (:mod:`forecasting.sources.csv_roots`)
and at most :data:`~forecasting.limits.MAX_CSV_BYTES` of them; uploaded content
(:mod:`forecasting.sources.upload`) goes through the same parser and bound.
Errors name lines and column numbers but never quote the file: a series' file may
be one its definer cannot otherwise read, and its words must not leak through them.
Only this module's own messages (:class:`CsvError`) are shown; any other failure of
parsing is named by its kind alone.
"""

from __future__ import annotations

import csv
import errno
import io
import itertools
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

import pandas as pd

from forecasting.errors import InvalidInput, SourceError
from forecasting.limits import MAX_CSV_BYTES
from forecasting.sources.base import SeriesSpec
from forecasting.sources.csv_roots import TOO_LARGE, CsvRoots, UnknownFile, env_csv_roots
from forecasting.sources.params import CsvOptions, CsvParams, parse

OPTIONS = set(CsvOptions.model_fields)  # how a file is parsed, wherever its content comes from
# A path that names no file: as unknown a reference as a file outside the roots (UnknownFile).
_NO_FILE = {errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP}
LESS_THAN_ONE = "<1"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MONTH = re.compile(r"\d{4}-\d{2}")
_TERM_SUFFIX = ": ("  # a Google Trends column is "<term>: (<geo>)"


class CsvSource:
    """Reads the ``path`` of a series, inside ``roots`` (default: ``$FORECASTING_CSV_ROOTS``, else none)."""

    name: ClassVar[str] = "csv"
    synthetic: ClassVar[bool] = False
    fed_by_uploads: ClassVar[bool] = False

    def __init__(self, roots: CsvRoots | None = None) -> None:
        self.roots = roots if roots is not None else env_csv_roots()

    def validate_params(self, series: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """:class:`CsvParams`, then the file: inside the roots, readable text whose header has the column.

        The path is stored as its real path (relative ones start where :class:`CsvRoots` says).
        A path outside the roots, or naming no regular file, is :class:`UnknownFile` (an unknown
        reference); what the file holds is InvalidInput. Only the lines up to the first data row are read.
        A file without data rows yet passes: what its rows hold is its download's to report,
        as any later change is.
        """
        given = parse(CsvParams, series, params)
        options = given.model_dump(exclude_none=True, exclude={"path"})
        try:
            path = str(self.roots.resolve(given.path))
            with self.roots.open(path) as file, _lines(file) as lines:
                header, header_line, _ = _layout(_rows(lines), options.get("date_format"))
            _column_index(header, header_line, options.get("column"))
        except InvalidInput as exc:
            raise type(exc)(f"series {series!r}: {exc}") from None
        except OSError as exc:
            if exc.errno in _NO_FILE:
                raise UnknownFile(f"series {series!r}: file not found: {path}") from None
            raise InvalidInput(f"series {series!r}: cannot read {path}: {_reason(exc)}") from None
        except (NotText, ColumnError, TooLarge) as exc:
            raise InvalidInput(f"series {series!r}: {path}: {exc}") from None
        except CsvError:  # no data row yet: what the rows hold is the download's to report
            pass
        return {"path": path, **options}

    def download(self, series: SeriesSpec) -> pd.DataFrame:
        path = str(series.params.get("path", ""))
        options = read_options(series.name, {k: v for k, v in series.params.items() if k != "path"})
        try:
            with self.roots.open(path) as file:
                return read_trends_csv(file, **options)
        except InvalidInput as exc:
            raise SourceError(series.name, str(exc)) from None
        except OSError as exc:
            raise SourceError(series.name, f"cannot read {path}: {_reason(exc)}") from None
        except Exception as exc:
            raise SourceError(series.name, f"{path}: {shown(exc)}") from None


class CsvError(ValueError):
    """A problem of the CSV named by lines and column numbers, never by the file's words."""


class NotText(CsvError):
    """The file is not UTF-8 text."""


class ColumnError(CsvError):
    """The header has no value column, or not the one asked for."""


class TooLarge(CsvError):
    """The content is larger than :data:`~forecasting.limits.MAX_CSV_BYTES`."""


def shown(exc: Exception) -> str:
    """What may be said of a parsing failure: this module's message, else only the kind of failure."""
    if isinstance(exc, CsvError):
        return str(exc)
    return f"not readable as a CSV time series ({type(exc).__name__})"


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def read_trends_csv(
    source: bytes | BinaryIO,
    column: str | None = None,
    less_than_one: float = 0.5,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Parse a Google Trends export or a plain/wide CSV into ``time``/``value`` rows.

    ``source`` is the content, or a binary stream read at most to
    :data:`~forecasting.limits.MAX_CSV_BYTES`. ``column`` picks the value column by its
    exact header or by the Google term before ``": ("``; it may be omitted when there
    is one value column. Rows whose chosen cell is empty are dropped (a column that
    starts late). Raises :class:`CsvError` naming the line at fault.
    """
    with _lines(source) as lines:
        rows = _rows(lines)
        header, header_line, first = _layout(rows, date_format)
        index = _column_index(header, header_line, column)
        times: list[datetime] = []
        values: list[float] = []
        seen: dict[datetime, int] = {}
        for line, cells in itertools.chain([first], rows):
            if len(cells) != len(header):
                raise CsvError(f"line {line} has {len(cells)} cells but the header has {len(header)}")
            time = _parse_time(cells[0], date_format)
            if time is None:
                raise CsvError(f"line {line}: the first cell is not a date like the rows above it")
            cell = cells[index].strip()
            if cell == "":
                continue
            if time in seen:
                raise CsvError(f"line {line} has the date of line {seen[time]}")
            seen[time] = line
            times.append(time)
            values.append(_parse_value(cell, less_than_one, line, index))
    if not times:
        raise CsvError(f"no data rows: column {index + 1} has no values")
    return pd.DataFrame({"time": pd.to_datetime(times), "value": pd.Series(values, dtype="float64")})


def _lines(source: bytes | BinaryIO) -> io.TextIOWrapper:
    """The text of the content or stream (UTF-8, a leading byte order mark dropped), bounded in size.

    Closing it leaves ``source`` open: the caller opened it and closes it.
    """
    raw = io.BytesIO(source) if isinstance(source, bytes) else source
    return io.TextIOWrapper(io.BufferedReader(_Bounded(raw)), encoding="utf-8-sig", newline="")


class _Bounded(io.RawIOBase):
    """A stream that fails once more than MAX_CSV_BYTES are read: a file that grows is cut off too."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: MAX_CSV_BYTES + 1 - self._read]
        n = self._raw.readinto(view) or 0
        self._read += n
        if self._read > MAX_CSV_BYTES:
            raise TooLarge(TOO_LARGE)
        return n


def _rows(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with their 1-based line numbers, read as needed."""
    reader = csv.reader(lines)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise NotText("not UTF-8 text") from None
        except csv.Error as exc:
            raise CsvError(f"line {reader.line_num}: not readable as CSV ({exc})") from None
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _layout(
    rows: Iterator[tuple[int, list[str]]], date_format: str | None
) -> tuple[list[str], int, tuple[int, list[str]]]:
    """The header, its line and the first data row: the first row starting with a date, and the one above."""
    previous: tuple[int, list[str]] | None = None
    for line, cells in rows:
        if _parse_time(cells[0], date_format) is not None:
            if previous is None or previous[0] != line - 1:
                raise CsvError(f"no header line just above the first data row (line {line})")
            return [cell.strip() for cell in previous[1]], previous[0], (line, cells)
        previous = (line, cells)
    expected = f"a date in the format {date_format!r}" if date_format else "YYYY-MM-DD or YYYY-MM"
    raise CsvError(f"no data rows: no line starts with {expected}")


def read_options(series: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parsing params (:class:`CsvOptions`) in their normalised types; text from the CLI or a
    query string is converted."""
    return parse(CsvOptions, series, params).model_dump(exclude_none=True)


def _parse_time(cell: str, date_format: str | None) -> datetime | None:
    cell = cell.strip()
    if date_format:
        try:
            parsed = datetime.strptime(cell, date_format)
        except ValueError:
            return None
        # With %z: the UTC time, naive, as clean_download makes any aware time.
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    try:  # not strptime: ten times slower, and a file may have millions of rows
        if _ISO_DAY.fullmatch(cell):
            return datetime(int(cell[:4]), int(cell[5:7]), int(cell[8:]))
        if _ISO_MONTH.fullmatch(cell):
            return datetime(int(cell[:4]), int(cell[5:7]), 1)
    except ValueError:
        return None
    return None


def _column_index(header: list[str], line: int, column: str | None) -> int:
    """Index of the value column: exact header first, then the Google term."""
    names = header[1:]
    if not names:
        raise ColumnError(f"the header (line {line}) has no value column after the time column")
    if column is None:
        if len(names) == 1:
            return 1
        raise ColumnError(
            f"the header (line {line}) has {len(names)} value columns: choose one with param column "
            f"(its header, or the search term before '{_TERM_SUFFIX}')"
        )
    if column in names:
        return names.index(column) + 1
    by_term = [i for i, name in enumerate(names) if name.split(_TERM_SUFFIX)[0].strip() == column]
    if len(by_term) == 1:
        return by_term[0] + 1
    if by_term:
        raise ColumnError(
            f"column {column!r} matches {len(by_term)} columns of the header (line {line}) by search term; "
            "give the whole header"
        )
    raise ColumnError(f"column {column!r} is not in the header (line {line})")


def _parse_value(cell: str, less_than_one: float, line: int, index: int) -> float:
    if cell == LESS_THAN_ONE:
        return less_than_one
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CsvError(f"line {line}: the value in column {index + 1} is not a number")
    return value
