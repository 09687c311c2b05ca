"""Errors the domain raises; the CLI, DAGs and service turn them into messages."""


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
