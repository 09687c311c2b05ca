"""Errors the domain raises, and how their messages show values.

The CLI, DAGs and service turn the errors into messages; a message quotes what the user gave
through :func:`shown` (or :func:`cut`, :func:`listed`), so an 800 KB value gives a one-line error.
"""

from __future__ import annotations

from collections.abc import Iterable


class ForecastingError(Exception):
    """Base class: the message is meant for the user, in one line."""


class NotFound(ForecastingError):
    """A named object (series, version, config) does not exist."""


class InvalidInput(ForecastingError):
    """A parameter, file or value given by the user cannot be used."""


class Conflict(ForecastingError):
    """The operation would break a rule of the store (duplicate name, object in use)."""


class SourceError(ForecastingError):
    """A download failed for one series; the message names the series and the cause."""

    def __init__(self, series: str, cause: str):
        super().__init__(f"series {series!r}: {cause}")
        self.series = series
        self.cause = cause


class SourceUnavailable(SourceError):
    """The source failed in a way that may pass by itself: a 5xx, a timeout, a lost connection."""


class RateLimited(SourceUnavailable):
    """The source refuses more requests for now (Google's 429): worth retrying, but much later."""


class DatabaseNotReady(ForecastingError):
    """The database is unreachable or has not been migrated."""


class DatabaseUnavailable(DatabaseNotReady):
    """The database does not answer; the message's detail (host, port) is for operators, not callers."""


class ArtifactError(ForecastingError):
    """A stored model artifact does not parse, or predicts other than it did when trained."""


QUOTE_LIMIT = 60  # characters of a value a message shows
LIST_LIMIT = 5  # items of a list a message names


def shown(value: object) -> str:
    """``repr(value)`` for a message, cut to a few dozen characters: a message never echoes a whole input."""
    text = repr(value)
    if len(text) <= QUOTE_LIMIT:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters written out"
    return f"{text[: QUOTE_LIMIT - 1]}… ({size})"


def cut(text: str) -> str:
    """``text`` unquoted, cut as :func:`shown` cuts it (for names a message lists as they are)."""
    return text if len(text) <= QUOTE_LIMIT else f"{text[: QUOTE_LIMIT - 1]}… ({len(text)} characters)"


def listed(items: Iterable[object]) -> str:
    """The first few items, comma-separated and each cut, and how many more there are."""
    items = list(items)
    more = f" and {len(items) - LIST_LIMIT} more" if len(items) > LIST_LIMIT else ""
    return ", ".join(cut(str(item)) for item in items[:LIST_LIMIT]) + more
