"""The Google Trends source runs the real pytrends code against recorded Google answers.

HTTP is intercepted by ``responses``; the interactions come from the pytrends project's
own cassettes in ../shared/data (see its README), and errors are injected before them.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests
import responses
from pytrends.request import BASE_TRENDS_URL, TrendReq

from forecasting.errors import InvalidInput, RateLimited, SourceError, SourceUnavailable
from forecasting.sources.base import SeriesSpec, clean_download, granularity
from forecasting.sources.google_trends import GoogleTrendsSettings, GoogleTrendsSource, resolve_timeframe
from tests.cassettes import Interaction, load_cassette, register, timeline_answer, url_pattern

COOKIE = url_pattern(f"{BASE_TRENDS_URL}/explore/")
EXPLORE = url_pattern(TrendReq.GENERAL_URL)
MULTILINE = url_pattern(TrendReq.INTEREST_OVER_TIME_URL)
PIZZA = SeriesSpec(name="pizza-us", source="google_trends", params={"keyword": "pizza"})


@pytest.fixture
def cassette(shared_data: Path) -> Callable[[str], list[Interaction]]:
    return lambda name: load_cassette(shared_data / "pytrends-cassettes" / name)


@pytest.fixture
def partial(cassette: Callable[[str], list[Interaction]]) -> list[Interaction]:
    """Cookie, explore and multiline of a weekly ``today 5-y`` download with a partial week."""
    return cassette("test_interest_over_time_partial.yaml")


@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_source(sleeps: list[float], **settings: object) -> GoogleTrendsSource:
    """A source that records its sleeps instead of waiting, with the full jitter factor."""
    config = GoogleTrendsSettings(**settings)  # type: ignore[arg-type]
    return GoogleTrendsSource(config, sleep=sleeps.append, jitter=lambda: 1.0)


def calls_to(mock: responses.RequestsMock, pattern: re.Pattern[str]) -> int:
    return sum(1 for call in mock.calls if pattern.match(call.request.url))


def only(interactions: list[Interaction], pattern: re.Pattern[str]) -> list[Interaction]:
    return [i for i in interactions if pattern.match(i.uri)]


def assert_is_the_recorded_pizza_series(frame: pd.DataFrame, partial: list[Interaction]) -> None:
    timeline = only(partial, MULTILINE)[0].json()["default"]["timelineData"]
    complete = [point for point in timeline if not point.get("isPartial")]
    assert len(timeline) == 260 and len(complete) == 259
    assert list(frame.columns) == ["time", "value"]
    assert frame["time"].tolist() == [pd.Timestamp(int(point["time"]), unit="s") for point in complete]
    assert frame["value"].tolist() == [float(point["value"][0]) for point in complete]


def test_weekly_download_drops_the_partial_week_and_returns_naive_float_rows(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    register(google, partial)
    sleeps: list[float] = []

    frame = make_source(sleeps).download(PIZZA)

    assert_is_the_recorded_pizza_series(frame, partial)
    assert len(frame) == 260 - 1
    assert frame["time"].dt.tz is None
    assert frame["value"].dtype == "float64"
    assert frame["time"].iloc[0] == pd.Timestamp("2018-04-01")
    assert frame["time"].iloc[-1] == pd.Timestamp("2023-03-12")
    assert pd.Timestamp("2023-03-19") not in set(frame["time"])  # the isPartial week
    assert frame["value"].iloc[:3].tolist() == [81.0, 72.0, 75.0]
    assert frame["value"].iloc[-1] == 65.0
    pd.testing.assert_frame_equal(clean_download(PIZZA.name, frame), frame, check_dtype=False)
    assert sleeps == []
    assert [calls_to(google, p) for p in (COOKIE, EXPLORE, MULTILINE)] == [1, 1, 1]


def test_connection_settings_and_series_params_reach_google(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    register(google, partial)
    source = make_source([], hl="de-DE", tz=60, geo="US", timeout=(3.0, 7.0))
    spec = SeriesSpec("pizza-ca", "google_trends", {"keyword": "pizza", "geo": "US-CA", "cat": 71})

    source.download(spec)

    explore = next(c.request for c in google.calls if EXPLORE.match(c.request.url))
    query = parse_qs(urlsplit(explore.url).query)
    assert query["hl"] == ["de-DE"] and query["tz"] == ["60"]
    req = json.loads(query["req"][0])
    assert req["comparisonItem"] == [{"keyword": "pizza", "time": "today 5-y", "geo": "US-CA"}]
    assert req["category"] == 71 and req["property"] == ""
    assert explore.headers["accept-language"] == "de-DE"
    assert all(c.request.req_kwargs["timeout"] == (3.0, 7.0) for c in google.calls)


def test_a_fixed_start_timeframe_ending_today_is_sent_as_an_explicit_range(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    register(google, partial)
    source = make_source([])
    source.download(SeriesSpec("pizza", "google_trends", {"timeframe": "2022-01-02 today"}))

    explore = next(c.request for c in google.calls if EXPLORE.match(c.request.url))
    req = json.loads(parse_qs(urlsplit(explore.url).query)["req"][0])
    assert req["comparisonItem"][0]["time"] == f"2022-01-02 {date.today().isoformat()}"


def test_resolve_timeframe_leaves_other_timeframes_alone() -> None:
    assert resolve_timeframe("2022-01-02 today", date(2026, 11, 23)) == "2022-01-02 2026-11-23"
    assert resolve_timeframe("today 5-y", date(2026, 11, 23)) == "today 5-y"
    assert resolve_timeframe("2022-01-02 2023-01-01") == "2022-01-02 2023-01-01"


def test_a_429_is_retried_after_one_backoff_and_the_data_is_returned(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    google.add(responses.GET, MULTILINE, status=429, body="Too Many Requests")
    register(google, partial)
    sleeps: list[float] = []

    frame = make_source(sleeps, backoff=2.0).download(PIZZA)

    assert_is_the_recorded_pizza_series(frame, partial)
    assert sleeps == [2.0]
    # the whole attempt is repeated, cookie request included
    assert [calls_to(google, p) for p in (COOKIE, EXPLORE, MULTILINE)] == [2, 2, 2]


def test_a_persistent_429_fails_naming_the_series_the_answer_and_the_attempts(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    google.add(responses.GET, MULTILINE, status=429, body="Too Many Requests")
    register(google, only(partial, COOKIE) + only(partial, EXPLORE))
    sleeps: list[float] = []

    with pytest.raises(RateLimited) as failure:  # a kind of its own: retried much later by the DAG
        make_source(sleeps, retries=3).download(PIZZA)

    message = str(failure.value)
    assert failure.value.series == "pizza-us"
    assert "'pizza-us'" in message and "429 Too Many Requests" in message
    assert "4 attempt" in message and "wait" in message
    assert calls_to(google, MULTILINE) == 3 + 1
    assert len(sleeps) == 3


def test_a_400_fails_at_once_without_retrying(
    google: responses.RequestsMock, cassette: Callable[[str], list[Interaction]]
) -> None:
    # The bad-gprop cassette holds only the cookie request: pytrends rejects a bad gprop
    # before calling Google, so Google's 400 for a malformed request is injected here.
    register(google, cassette("test_interest_over_time_bad_gprop.yaml"))
    google.add(responses.POST, EXPLORE, status=400, body="Bad Request")
    sleeps: list[float] = []

    with pytest.raises(SourceError, match="400 Bad Request") as failure:
        make_source(sleeps, retries=4).download(PIZZA)

    assert "'pizza-us'" in str(failure.value) and "check the series params" in str(failure.value)
    assert not isinstance(failure.value, SourceUnavailable)  # no retry can fix it
    assert calls_to(google, EXPLORE) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_answer_is_retried(
    google: responses.RequestsMock, partial: list[Interaction], status: int
) -> None:
    google.add(responses.POST, EXPLORE, status=status, body="Server Error")
    register(google, partial)
    sleeps: list[float] = []

    frame = make_source(sleeps).download(PIZZA)

    assert_is_the_recorded_pizza_series(frame, partial)
    assert len(sleeps) == 1
    assert calls_to(google, EXPLORE) == 2


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("connection reset"),
    ],
    ids=type,
)
def test_a_timeout_or_connection_error_on_the_cookie_request_is_retried(
    google: responses.RequestsMock, partial: list[Interaction], error: Exception
) -> None:
    google.add(responses.GET, COOKIE, body=error)
    register(google, partial)
    sleeps: list[float] = []

    frame = make_source(sleeps).download(PIZZA)

    assert_is_the_recorded_pizza_series(frame, partial)
    assert len(sleeps) == 1
    assert calls_to(google, COOKIE) == 2


def test_a_persistent_timeout_fails_naming_the_error_and_the_attempts(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    google.add(responses.GET, MULTILINE, body=requests.exceptions.ReadTimeout("read timed out"))
    register(google, only(partial, COOKIE) + only(partial, EXPLORE))
    sleeps: list[float] = []

    with pytest.raises(SourceUnavailable, match="ReadTimeout") as failure:
        make_source(sleeps, retries=2).download(PIZZA)

    assert "'pizza-us'" in str(failure.value) and "3 attempt" in str(failure.value)
    assert calls_to(google, MULTILINE) == 3


def test_backoff_doubles_with_each_attempt_and_is_capped_by_max_backoff(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    google.add(responses.POST, EXPLORE, status=429)
    register(google, only(partial, COOKIE))
    sleeps: list[float] = []

    with pytest.raises(SourceError):
        make_source(sleeps, retries=6, backoff=2.0, max_backoff=20.0).download(PIZZA)

    assert sleeps == [2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_full_jitter_scales_each_capped_delay_by_a_random_factor(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    google.add(responses.POST, EXPLORE, status=503)
    register(google, only(partial, COOKIE))
    sleeps: list[float] = []
    source = GoogleTrendsSource(
        GoogleTrendsSettings(retries=8, backoff=1.0, max_backoff=30.0),
        sleep=sleeps.append,
        jitter=random.Random(1234).random,
    )

    with pytest.raises(SourceError, match="503 Service Unavailable"):
        source.download(PIZZA)

    caps = [min(30.0, 1.0 * 2**k) for k in range(8)]
    factors = random.Random(1234)
    assert sleeps == pytest.approx([cap * factors.random() for cap in caps])
    assert all(0.0 <= delay <= cap for delay, cap in zip(sleeps, caps, strict=True))
    assert sleeps != caps


def test_the_default_jitter_keeps_delays_within_their_caps(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    google.add(responses.POST, EXPLORE, status=429)
    register(google, only(partial, COOKIE))
    sleeps: list[float] = []
    settings = GoogleTrendsSettings(retries=7, max_backoff=50.0)
    source = GoogleTrendsSource(settings, sleep=sleeps.append)

    with pytest.raises(SourceError):
        source.download(PIZZA)

    caps = [min(50.0, 2.0 * 2**k) for k in range(7)]
    assert len(sleeps) == 7
    assert all(0.0 <= delay <= cap for delay, cap in zip(sleeps, caps, strict=True))


def test_an_empty_timeline_is_a_source_error(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    register(google, only(partial, COOKIE) + only(partial, EXPLORE))
    google.add(
        responses.GET,
        MULTILINE,
        body=")]}',\n" + json.dumps({"default": {"timelineData": [], "averages": []}}),
        content_type="application/json; charset=utf-8",
    )

    with pytest.raises(SourceError, match="returned no data for keyword 'pizza'") as failure:
        make_source([]).download(PIZZA)

    assert failure.value.series == "pizza-us"


def test_a_monthly_answer_is_refused_naming_the_window_and_what_to_do(
    google: responses.RequestsMock, partial: list[Interaction]
) -> None:
    # What Google answers the example's "2023-01-01 today" once the window passes five years.
    months = pd.date_range("2023-01-01", "2028-03-01", freq="MS")
    monthly = timeline_answer(only(partial, MULTILINE)[0], months, [50] * len(months))
    register(google, only(partial, COOKIE) + only(partial, EXPLORE) + [monthly])
    spec = SeriesSpec("coffee", "google_trends", {"keyword": "coffee", "timeframe": "2023-01-01 today"})

    with pytest.raises(SourceError) as failure:
        make_source([]).download(spec)

    message = str(failure.value)
    assert message.startswith(
        f"series 'coffee': Google Trends answered monthly points for timeframe '2023-01-01 {date.today()}', "
        "not weekly ones, so nothing is stored: Google answers monthly for windows longer than about "
        "five years; give the series' param timeframe a start less than five years back, e.g. '"
    )
    assert not isinstance(failure.value, SourceUnavailable)  # asking again gives the same answer


def test_a_real_daily_answer_is_refused(
    google: responses.RequestsMock, cassette: Callable[[str], list[Interaction]]
) -> None:
    register(google, cassette("test_interest_over_time_ok.yaml"))  # 2021-01-01 to 2021-01-05, daily
    spec = SeriesSpec("pizza", "google_trends", {"timeframe": "2021-01-01 2021-01-05"})

    with pytest.raises(SourceError) as failure:
        make_source([]).download(spec)

    assert str(failure.value).startswith(
        "series 'pizza': Google Trends answered daily points for timeframe '2021-01-01 2021-01-05', "
        "not weekly ones, so nothing is stored: Google answers daily or finer for windows shorter than "
        "about nine months; give the series' param timeframe a start at least nine months back, e.g. '"
    )


def test_the_granularity_comes_from_the_answers_times() -> None:
    def of(*times: str) -> str | None:
        return granularity(pd.Series(pd.to_datetime(list(times))))

    assert of("2024-01-07", "2024-01-14", "2024-01-21") == "weekly"
    assert of("2024-01-07", "2024-01-21", "2024-01-28") == "weekly"  # a missing week is still weekly
    assert of("2024-01-07", "2024-01-08", "2024-01-09") == "daily"
    assert of("2024-01-01", "2024-02-01", "2024-03-01", "2024-05-01") == "monthly"
    assert of("2024-01-07 00:00", "2024-01-07 01:00", "2024-01-07 02:00") == "hourly"
    assert of("2024-01-07 00:00", "2024-01-07 00:08", "2024-01-07 00:16") == "every 8 minutes"
    assert of("2024-01-07", "2024-01-15", "2024-01-22") == "irregular"
    assert of("2024-01-15", "2024-02-15") == "irregular"  # a month apart, but not month starts
    assert of("2024-01-07") is None  # one point has no spacing


def test_settings_from_mapping_convert_text_values() -> None:
    settings = GoogleTrendsSettings.from_mapping(
        {
            "hl": "de-DE",
            "tz": "-60",
            "geo": "de",
            "timeframe": "today 12-m",
            "retries": "2",
            "backoff": "0.5",
            "max_backoff": "30",
            "timeout": "5, 20",
            "proxies": "https://10.0.0.1:80, https://10.0.0.2:80",
        }
    )

    assert settings == GoogleTrendsSettings(
        hl="de-DE",
        tz=-60,
        geo="DE",
        timeframe="today 12-m",
        retries=2,
        backoff=0.5,
        max_backoff=30.0,
        timeout=(5.0, 20.0),
        proxies=("https://10.0.0.1:80", "https://10.0.0.2:80"),
    )


def test_settings_from_mapping_accept_json_values_and_keep_defaults() -> None:
    settings = GoogleTrendsSettings.from_mapping(
        {"retries": 0, "timeout": 15, "proxies": ["https://10.0.0.1:80"]}
    )

    assert settings == GoogleTrendsSettings(retries=0, timeout=(15.0, 15.0), proxies=("https://10.0.0.1:80",))
    assert GoogleTrendsSettings.from_mapping({}) == GoogleTrendsSettings()


def test_settings_from_mapping_reject_unknown_keys() -> None:
    with pytest.raises(InvalidInput, match="retry_count"):
        GoogleTrendsSettings.from_mapping({"retries": "2", "retry_count": "3"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retries", "-1"),
        ("retries", "many"),
        ("tz", "utc"),
        ("tz", "5000"),
        ("backoff", "fast"),
        ("max_backoff", "-5"),
        ("backoff", "nan"),
        ("timeout", "0"),
        ("timeout", "1,2,3"),
        ("proxies", "10.0.0.1:80"),
        ("proxies", 80),
        ("hl", ""),
        ("geo", "United States"),
    ],
)
def test_settings_from_mapping_reject_bad_values_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=key):
        GoogleTrendsSettings.from_mapping({key: value})


def test_validate_params_defaults_the_keyword_to_the_series_name() -> None:
    source = GoogleTrendsSource()

    assert source.validate_params("pizza", {}) == {"keyword": "pizza", "cat": 0, "gprop": ""}
    given = {"keyword": " vegan ", "geo": "us-ca", "timeframe": "today 12-m", "cat": "71"}
    assert source.validate_params("veg", {**given, "gprop": "news"}) == {
        "keyword": "vegan",
        "geo": "US-CA",
        "timeframe": "today 12-m",
        "cat": 71,
        "gprop": "news",
    }


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"kw": "pizza"}, "kw"),
        ({"gprop": "web"}, "gprop"),
        ({"cat": "-1"}, "cat"),
        ({"cat": "food"}, "cat"),
        ({"keyword": " "}, "keyword"),
        ({"geo": "Germany!"}, "geo"),
        ({"timeframe": ""}, "timeframe"),
    ],
)
def test_validate_params_rejects_unknown_and_bad_params(params: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        GoogleTrendsSource().validate_params("pizza", params)


def test_settings_come_from_the_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECASTING_GOOGLE_TRENDS_RETRIES", "7")
    monkeypatch.setenv("FORECASTING_GOOGLE_TRENDS_PROXIES", "https://proxy.example:8080")
    settings = GoogleTrendsSource().settings
    assert settings.retries == 7 and settings.proxies == ("https://proxy.example:8080",)
    assert settings.hl == GoogleTrendsSettings().hl


def test_a_bad_environment_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECASTING_GOOGLE_TRENDS_RETRIES", "lots")
    with pytest.raises(InvalidInput, match=r"FORECASTING_GOOGLE_TRENDS_\*: google_trends setting retries"):
        GoogleTrendsSource()
