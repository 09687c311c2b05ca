"""Data sources by name. Imported lazily so that pytrends loads only when used."""

from __future__ import annotations

from importlib import import_module

from forecasting.errors import InvalidInput
from forecasting.sources.base import DataSource, SeriesSpec, clean_download

_SOURCES = {
    "google_trends": ("forecasting.sources.google_trends", "GoogleTrendsSource"),
    "csv": ("forecasting.sources.csv_file", "CsvSource"),
    "sample": ("forecasting.sources.sample", "SampleSource"),
}
SOURCE_NAMES = tuple(_SOURCES)


def get_source(name: str) -> DataSource:
    """A source with its default settings; unknown names are a clear error."""
    try:
        module, cls = _SOURCES[name]
    except KeyError:
        raise InvalidInput(f"unknown source {name!r}; known sources: {', '.join(SOURCE_NAMES)}") from None
    return getattr(import_module(module), cls)()


__all__ = ["DataSource", "SeriesSpec", "SOURCE_NAMES", "clean_download", "get_source"]
