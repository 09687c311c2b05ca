"""Series whose values a client sends as CSV content, instead of naming a file of the server.

A series of source ``upload`` is created by its first upload and fed by each later
one (``POST /api/timeseries/<name>/upload``); each upload is stored as a download is,
with version detection (:func:`forecasting.refresh.store_upload`). It has nothing to
download, so a refresh leaves it as it is. The content is parsed by the csv source's
parser, with its options and its size bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from forecasting.errors import InvalidInput
from forecasting.sources.base import SeriesSpec
from forecasting.sources.csv_file import read_options, read_trends_csv, shown
from forecasting.sources.params import UploadParams, parse

UPLOAD_ROUTE = "POST /api/timeseries/<name>/upload"


class UploadSource:
    name: ClassVar[str] = "upload"
    synthetic: ClassVar[bool] = False
    fed_by_uploads: ClassVar[bool] = True

    def validate_params(self, series: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """No params: how an upload is parsed is said with each upload."""
        return parse(UploadParams, series, params).model_dump()

    def download(self, series: SeriesSpec) -> pd.DataFrame:
        raise InvalidInput(
            f"series {series.name!r}: source {self.name!r} has nothing to download; its values are sent "
            f"with {UPLOAD_ROUTE}, which creates the series"
        )


def read_upload(series: str, content: bytes, options: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of uploaded CSV content, parsed as the csv source parses a file with these ``options``.

    Bad content is InvalidInput naming lines and columns, never quoting the content.
    """
    parsed = read_options(series, options)
    try:
        return read_trends_csv(content, **parsed)
    except Exception as exc:
        raise InvalidInput(f"series {series!r}: the upload: {shown(exc)}") from None
