"""Data sources by name. Imported lazily so that pytrends loads only when used."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

from forecasting.errors import InvalidInput, shown
from forecasting.sources.base import DataSource, SeriesSpec, clean_download

_SOURCES = {
    "google_trends": ("forecasting.sources.google_trends", "GoogleTrendsSource"),
    "csv": ("forecasting.sources.csv_file", "CsvSource"),
    "sample": ("forecasting.sources.sample", "SampleSource"),
    "upload": ("forecasting.sources.upload", "UploadSource"),
}
SOURCE_NAMES = tuple(_SOURCES)


def get_source(name: str, sources: Mapping[str, DataSource] | None = None) -> DataSource:
    """The source of that name in ``sources`` (configured by the caller), else one with its default
    settings; unknown names are a clear error."""
    if sources and name in sources:
        return sources[name]
    return _source_class(name)()


def fed_by_uploads(name: str) -> bool:
    """Whether series of source ``name`` get their values from uploads (an unknown name does not)."""
    return name in _SOURCES and _source_class(name).fed_by_uploads


def _source_class(name: str) -> type[DataSource]:
    try:
        module, cls = _SOURCES[name]
    except KeyError:
        known = ", ".join(SOURCE_NAMES)
        raise InvalidInput(f"unknown source {shown(name)}; known sources: {known}") from None
    return getattr(import_module(module), cls)


__all__ = ["DataSource", "SeriesSpec", "SOURCE_NAMES", "clean_download", "fed_by_uploads", "get_source"]
