"""Deterministic synthetic weekly series, for the offline demo and tests.

Every value is a function of the seed and the week alone, so a later ``end`` only
adds weeks (a refresh reports ``appended``) and the same ``end`` changes nothing.
The data are synthetic and every listing labels them so.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from forecasting.sources.base import SeriesSpec
from forecasting.sources.params import ORIGIN, SampleParams, parse


def last_complete_week(today: date | None = None) -> date:
    """Start (Sunday) of the latest week that has fully ended before ``today``."""
    today = today or date.today()
    this_sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    return this_sunday - timedelta(weeks=1)


class SampleSource:
    name: ClassVar[str] = "sample"
    synthetic: ClassVar[bool] = True
    fed_by_uploads: ClassVar[bool] = False

    def validate_params(self, series: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """:class:`SampleParams`; the seed defaults to a hash of the name, ``end`` becomes a Sunday."""
        clean = parse(SampleParams, series, params).model_dump(exclude_none=True)
        return {"seed": zlib.crc32(series.encode()), **clean}

    def download(self, series: SeriesSpec) -> pd.DataFrame:
        params = self.validate_params(series.name, series.params)
        end = date.fromisoformat(params["end"]) if "end" in params else last_complete_week()
        last = (end - ORIGIN).days // 7
        first = max(0, last - params["periods"] + 1)
        weeks = np.arange(last + 1)
        rng = np.random.default_rng(params["seed"])
        level, amplitude, drift, phase = rng.uniform([25, 5, -12, 0], [60, 25, 12, 2 * np.pi])
        noise = rng.normal(0.0, 4.0, size=weeks.size)
        # A yearly season plus a slow eight-year swing: bounded, so decades of weeks stay in 0-100.
        yearly = amplitude * np.sin(2 * np.pi * weeks / 52.1775 + phase)
        values = level + yearly + drift * np.sin(2 * np.pi * weeks / (8 * 52.1775))
        values = np.clip(np.round(values + noise), 0, 100)
        times = pd.to_datetime([ORIGIN + timedelta(weeks=int(w)) for w in weeks[first:]])
        return pd.DataFrame({"time": times, "value": values[first:]})
