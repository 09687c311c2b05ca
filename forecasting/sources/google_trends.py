"""Google Trends interest over time, downloaded through pytrends.

pytrends' own retry builds ``Retry(method_whitelist=...)``, which urllib3 2 rejects,
so pytrends always runs with ``retries=0`` and this module retries whole attempts
(cookie request included) with bounded exponential backoff and full jitter.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from typing import Any, ClassVar

import pandas as pd
import requests
from pytrends.exceptions import ResponseError, TooManyRequestsError
from pytrends.request import TrendReq

from forecasting.deadline import Deadline
from forecasting.errors import InvalidInput, RateLimited, SourceError, SourceUnavailable
from forecasting.sources.base import SeriesSpec, granularity, to_int
from forecasting.sources.params import GoogleTrendsParams, parse

log = logging.getLogger(__name__)

ENV_PREFIX = "FORECASTING_GOOGLE_TRENDS_"
_GEO = re.compile(r"[A-Z]{2}(-[A-Z0-9]+)*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ATTEMPT_S = 2.0  # what a retry needs after its sleep when Google answers (cookie, explore, timeline)


@dataclass(frozen=True)
class GoogleTrendsSettings:
    """Connection-level settings shared by every Google Trends series."""

    hl: str = "en-US"
    tz: int = 0
    geo: str = ""
    timeframe: str = "today 5-y"
    retries: int = 4
    backoff: float = 2.0
    max_backoff: float = 120.0
    timeout: tuple[float, float] = (10.0, 30.0)
    proxies: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, extras: Mapping[str, Any]) -> GoogleTrendsSettings:
        """Build settings from text-valued extras (e.g. an Airflow connection's)."""
        unknown = sorted(set(extras) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidInput(
                f"unknown google_trends setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(cls.__dataclass_fields__)}"
            )
        values: dict[str, Any] = {}
        for key in ("hl", "timeframe"):
            if key in extras:
                values[key] = _text(key, extras[key], allow_empty=False)
        if "geo" in extras:
            geo = _text("geo", extras["geo"], allow_empty=True)
            values["geo"] = _geo(geo, "google_trends setting")
        if "tz" in extras:
            values["tz"] = to_int(extras["tz"], "google_trends setting tz", minimum=-24 * 60, maximum=24 * 60)
        if "retries" in extras:
            values["retries"] = to_int(extras["retries"], "google_trends setting retries", minimum=0)
        for key in ("backoff", "max_backoff"):
            if key in extras:
                values[key] = _setting_float(key, extras[key], positive=False)
        if "timeout" in extras:
            values["timeout"] = _timeout(extras["timeout"])
        if "proxies" in extras:
            values["proxies"] = _proxies(extras["proxies"])
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> GoogleTrendsSettings:
        """Settings from ``FORECASTING_GOOGLE_TRENDS_<SETTING>`` variables (e.g. ``_RETRIES``)."""
        extras = {
            key.removeprefix(ENV_PREFIX).lower(): value
            for key, value in environ.items()
            if key.startswith(ENV_PREFIX)
        }
        try:
            return cls.from_mapping(extras)
        except InvalidInput as exc:
            raise InvalidInput(f"environment {ENV_PREFIX}*: {exc}") from None


class GoogleTrendsSource:
    name: ClassVar[str] = "google_trends"
    synthetic: ClassVar[bool] = False
    fed_by_uploads: ClassVar[bool] = False

    def __init__(
        self,
        settings: GoogleTrendsSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        deadline: Deadline | None = None,
    ):
        """Settings default to the environment (:meth:`GoogleTrendsSettings.from_env`).

        ``sleep`` and ``jitter`` (a factor in [0, 1)) are injectable so tests never wait.
        With a ``deadline`` (a request's), no attempt or retry sleep runs past it: the
        series fails with the deadline's advice instead.
        """
        self.settings = settings or GoogleTrendsSettings.from_env()
        self._sleep = sleep
        self._jitter = jitter
        self._deadline = deadline

    def validate_params(self, series: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """:class:`GoogleTrendsParams`; geo and timeframe stay unset so the connection's defaults apply."""
        clean = parse(GoogleTrendsParams, series, params).model_dump(exclude_none=True)
        return {"keyword": series, **clean}

    def download(self, series: SeriesSpec) -> pd.DataFrame:
        """The complete weeks Google answers; a non-weekly answer is refused (see :func:`not_weekly`)."""
        params = self.validate_params(series.name, series.params)
        params["timeframe"] = resolve_timeframe(params.get("timeframe", self.settings.timeframe))
        keyword = params["keyword"]
        frame = self._fetch_with_retry(series.name, params)
        found = granularity(pd.Series(frame.index))
        if found not in (None, "weekly"):
            raise SourceError(series.name, not_weekly(found, params["timeframe"]))
        if "isPartial" in frame.columns:
            frame = frame[~frame["isPartial"].astype(bool)]
        if frame.empty:
            raise SourceError(
                series.name,
                f"Google Trends returned no data for keyword {keyword!r} "
                f"(geo {params.get('geo', self.settings.geo)!r}, timeframe {params['timeframe']!r})",
            )
        times = pd.DatetimeIndex(frame.index)
        if times.tz is not None:
            times = times.tz_convert(None)
        return pd.DataFrame({"time": times.to_numpy(), "value": frame[keyword].astype("float64").to_numpy()})

    def _fetch_with_retry(self, series: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """Retry whole attempts on 429, 5xx, timeouts and lost connections; fail fast otherwise."""
        keyword = params["keyword"]
        attempts = self.settings.retries + 1
        attempt = 0
        while True:
            try:
                return self._fetch(params)
            except (ResponseError, requests.RequestException) as exc:
                attempt += 1
                if not _retryable(exc):
                    raise SourceError(
                        series,
                        f"{_outcome(exc)} for keyword {keyword!r}, which is not worth retrying; "
                        "check the series params (keyword, geo, timeframe, cat, gprop)",
                    ) from exc
                if attempt == attempts:
                    raise (RateLimited if isinstance(exc, TooManyRequestsError) else SourceUnavailable)(
                        series,
                        f"{_outcome(exc)} for keyword {keyword!r} on all {attempts} attempt(s) "
                        f"(1 + {self.settings.retries} retries); {_advice(exc)}",
                    ) from exc
                delay = self._delay(attempt - 1)
                if self._deadline is not None and not self._deadline.allows(delay + ATTEMPT_S):
                    raise (RateLimited if isinstance(exc, TooManyRequestsError) else SourceUnavailable)(
                        series,
                        f"{_outcome(exc)} for keyword {keyword!r} (attempt {attempt} of {attempts}); "
                        + self._deadline.explain("waiting to retry and retrying", delay + ATTEMPT_S),
                    ) from exc
                log.warning(
                    "series %r: %s (attempt %d of %d); retrying in %.1fs",
                    series,
                    _outcome(exc),
                    attempt,
                    attempts,
                    delay,
                )
                self._sleep(delay)
            except (ValueError, KeyError) as exc:
                raise SourceError(
                    series,
                    f"Google Trends sent an answer pytrends could not read for keyword "
                    f"{keyword!r} ({type(exc).__name__}: {exc})",
                ) from exc

    def _fetch(self, params: Mapping[str, Any]) -> pd.DataFrame:
        """One full attempt: cookie, tokens, then the timeline; pytrends raises on failure."""
        settings = self.settings
        timeout = settings.timeout
        if self._deadline is not None:  # no request waits for an answer past the deadline
            timeout = tuple(max(0.1, min(limit, self._deadline.remaining())) for limit in timeout)
        trends = TrendReq(
            hl=settings.hl,
            tz=settings.tz,
            timeout=timeout,
            proxies=list(settings.proxies),  # pytrends removes failing proxies from it
            retries=0,
            backoff_factor=0,
        )
        trends.build_payload(
            [params["keyword"]],
            cat=params["cat"],
            timeframe=params["timeframe"],
            geo=params.get("geo", settings.geo),
            gprop=params["gprop"],
        )
        return trends.interest_over_time()

    def _delay(self, attempt: int) -> float:
        """Full jitter: a random share of the capped exponential delay for this attempt."""
        cap = min(self.settings.max_backoff, self.settings.backoff * 2**attempt)
        return cap * self._jitter()


def resolve_timeframe(timeframe: str, today: date | None = None) -> str:
    """Expand ``"YYYY-MM-DD today"`` to an explicit range ending today.

    A fixed start keeps past weeks in every download, so a weekly refresh can append;
    a rolling window (``"today 5-y"``) drops its oldest week each week, which the
    version contract must treat as a new version.
    """
    start, _, end = timeframe.partition(" ")
    if end == "today" and _ISO_DATE.fullmatch(start):
        return f"{start} {(today or date.today()).isoformat()}"
    return timeframe


def not_weekly(found: str, timeframe: str, today: date | None = None) -> str:
    """Why a non-weekly answer is refused, and the window to ask for instead.

    Google picks the granularity from the window: daily (or finer) up to about nine
    months, weekly up to about five years, monthly beyond. Storing such an answer would
    make a new "version" of a weekly series out of points of another kind.
    """
    today = today or date.today()
    if found == "monthly":
        start = date(today.year - 4, today.month, 1)
        advice = (
            "Google answers monthly for windows longer than about five years; give the series' param "
            f"timeframe a start less than five years back, e.g. '{start} today' (the new window stores a "
            "new version; the older weeks stay in the versions before it)"
        )
    elif found in ("daily", "hourly") or found.startswith("every "):
        start = date(today.year - 1, today.month, 1)
        advice = (
            "Google answers daily or finer for windows shorter than about nine months; give the series' "
            f"param timeframe a start at least nine months back, e.g. '{start} today'"
        )
    else:
        advice = "give the series' param timeframe a window of nine months to five years"
    return (
        f"Google Trends answered {found} points for timeframe {timeframe!r}, not weekly ones, "
        f"so nothing is stored: {advice}"
    )


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, ResponseError):
        return isinstance(exc, TooManyRequestsError) or exc.response.status_code >= 500
    return isinstance(exc, (requests.Timeout, requests.ConnectionError))


def _outcome(exc: Exception) -> str:
    """What happened, e.g. ``Google Trends answered 429 Too Many Requests``."""
    if isinstance(exc, ResponseError):
        code = exc.response.status_code
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = exc.response.reason or ""
        return f"Google Trends answered {code} {reason}".rstrip()
    return f"the request to Google Trends failed ({type(exc).__name__}: {exc})"


def _advice(exc: Exception) -> str:
    if isinstance(exc, TooManyRequestsError):
        return (
            "Google is rate-limiting this address: wait an hour or more before refreshing, "
            "or set proxies / more retries in the google_trends connection"
        )
    if isinstance(exc, ResponseError):
        return "Google's service is failing: refresh again later"
    return (
        "check network access to trends.google.com (and any proxies), "
        "or raise timeout in the google_trends connection"
    )


def _text(key: str, raw: Any, allow_empty: bool) -> str:
    if not isinstance(raw, str) or (not allow_empty and not raw.strip()):
        kind = "a text" if allow_empty else "a non-empty text"
        raise InvalidInput(f"google_trends setting {key}={raw!r} must be {kind}")
    return raw.strip()


def _geo(raw: str, where: str) -> str:
    geo = raw.strip().upper()
    if geo and not _GEO.fullmatch(geo):
        raise InvalidInput(f"{where} geo={raw!r} is not a region code such as 'US' or 'US-CA'")
    return geo


def _setting_float(key: str, raw: Any, positive: bool) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"google_trends setting {key}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidInput(f"google_trends setting {key} must be a finite number {bound}, got {raw!r}")
    return value


def _timeout(raw: Any) -> tuple[float, float]:
    """One number for both the connect and read timeouts, or two (text ``"10,30"`` or a list)."""
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, (list, tuple)):
        parts = [parts]
    if len(parts) not in (1, 2):
        raise InvalidInput(f"google_trends setting timeout={raw!r} must be one number or two (connect, read)")
    values = [_setting_float("timeout", part, positive=True) for part in parts]
    return (values[0], values[-1])


def _proxies(raw: Any) -> tuple[str, ...]:
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, (list, tuple)) or not all(isinstance(p, str) for p in parts):
        raise InvalidInput(
            f"google_trends setting proxies={raw!r} must be a list or comma-separated text of URLs"
        )
    proxies = tuple(p.strip() for p in parts if p.strip())
    bad = [p for p in proxies if not re.match(r"[a-z][a-z0-9+.-]*://", p)]
    if bad:
        raise InvalidInput(f"google_trends setting proxies has {bad[0]!r}, not a URL like https://host:port")
    return proxies
