"""Refresh through the real sources: sample, csv, and the pytrends path with HTTP replayed."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import responses
from sqlalchemy import Engine, update

from forecasting.apply import apply_document
from forecasting.errors import InvalidInput, NotFound, RateLimited, SourceError
from forecasting.models import TimeSeries
from forecasting.refresh import add_and_download, refresh
from forecasting.series import add_series, list_versions, series_overview
from forecasting.sources.google_trends import GoogleTrendsSettings, GoogleTrendsSource
from tests.cassettes import Interaction, load_cassette, register, serve_timelines, timeline_answer
from tests.store_checks import assert_store_consistent, current_values


def test_sample_series_refresh_is_created_then_unchanged_then_appended(engine: Engine) -> None:
    add_series(engine, "s", "sample", {"end": "2024-06-02", "periods": "52"})
    assert [(r.outcome, r.rows_added) for r in refresh(engine)] == [("created", 52)]
    assert [(r.outcome, r.rows_added) for r in refresh(engine)] == [("unchanged", 0)]
    with engine.begin() as conn:
        conn.execute(update(TimeSeries).values(params={"seed": 1, "periods": 52, "end": "2024-06-16"}))
    [result] = refresh(engine)
    assert result.outcome == "new_version"  # another seed: another history


def test_a_failing_series_is_reported_and_the_others_are_stored(engine: Engine, csv_root: Path) -> None:
    good = csv_root / "good.csv"
    good.write_text("time,value\n2024-01-07,1\n2024-01-14,<1\n")
    empty = csv_root / "empty.csv"
    empty.write_text("time,value\n2024-01-07,1\n")
    add_series(engine, "good", "csv", {"path": str(good)})
    add_series(engine, "empty", "csv", {"path": str(empty)})
    empty.write_text("time,value\n")
    results = {r.series: r for r in refresh(engine)}
    assert results["good"].outcome == "created"
    assert results["empty"].outcome == "error"
    assert "empty" in results["empty"].error and results["empty"].version_id is None
    assert current_values(engine, "good") == [("2024-01-07", 1.0), ("2024-01-14", 0.5)]
    assert_store_consistent(engine)


def test_refresh_of_named_series_leaves_the_others_alone(engine: Engine) -> None:
    add_series(engine, "a", "sample", {"end": "2024-06-02", "periods": "5"})
    add_series(engine, "b", "sample", {"end": "2024-06-02", "periods": "5"})
    assert [r.series for r in refresh(engine, ["b"])] == ["b"]
    assert [(r.series, r.outcome) for r in refresh(engine)] == [("a", "created"), ("b", "unchanged")]


def test_refresh_of_an_unknown_series_fails_before_downloading(engine: Engine) -> None:
    add_series(engine, "a", "sample", {})
    with pytest.raises(NotFound, match="unknown series: nope"):
        refresh(engine, ["a", "nope"])


def test_a_persistent_429_fails_one_google_series_and_the_batch_goes_on(
    engine: Engine, shared_data: Path
) -> None:
    add_series(engine, "pizza", "google_trends", {"geo": "US"})
    add_series(engine, "blocked", "google_trends", {"keyword": "blocked-term", "geo": "US"})
    sleeps: list[float] = []
    source = GoogleTrendsSource(GoogleTrendsSettings(retries=2, backoff=0.01), sleep=sleeps.append)
    recorded = load_cassette(shared_data / "pytrends-cassettes" / "test_interest_over_time_partial.yaml")
    explore = next(i for i in recorded if i.method == "POST")

    def answer_explore(request) -> tuple[int, dict, bytes]:
        if "blocked-term" in unquote(request.url):
            return 429, {}, b"Too Many Requests"
        return explore.status, {}, explore.body

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(
            responses.POST, explore.url_pattern, callback=answer_explore, content_type=explore.content_type
        )
        register(mock, [i for i in recorded if i is not explore])
        results = {r.series: r for r in refresh(engine, sources={"google_trends": source})}
    assert results["pizza"].outcome == "created" and results["pizza"].rows_added == 259
    assert results["blocked"].outcome == "error"
    assert "'blocked'" in results["blocked"].error and "429" in results["blocked"].error
    assert len(sleeps) == 2


@pytest.fixture
def recorded(shared_data: Path) -> list[Interaction]:
    """Cookie, explore and the weekly ``today 5-y`` timeline Google answered for "pizza"."""
    return load_cassette(shared_data / "pytrends-cassettes" / "test_interest_over_time_partial.yaml")


def monthly(recorded: list[Interaction]) -> Interaction:
    """Google's answer to "2023-01-01 today" in March 2028: month starts."""
    weekly = next(i for i in recorded if "multiline" in i.uri)
    months = pd.date_range("2023-01-01", "2028-03-01", freq="MS")
    return timeline_answer(weekly, months, [40 + i % 20 for i in range(len(months))])


def refresh_google(engine: Engine, recorded: list[Interaction], timelines: dict[str, Interaction]) -> dict:
    source = GoogleTrendsSource(GoogleTrendsSettings(retries=0), sleep=lambda _: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_timelines(mock, recorded, timelines)
        return {r.series: r for r in refresh(engine, sources={"google_trends": source})}


def test_a_weekly_series_refuses_a_monthly_answer_and_keeps_its_version_while_the_batch_goes_on(
    engine: Engine, recorded: list[Interaction]
) -> None:
    weekly = next(i for i in recorded if "multiline" in i.uri)
    add_series(engine, "coffee", "google_trends", {"keyword": "coffee", "timeframe": "2023-01-01 today"})
    add_series(engine, "pizza", "google_trends", {"keyword": "pizza"})
    first = refresh_google(engine, recorded, {"coffee": weekly, "pizza": weekly})
    assert [(r.outcome, r.rows_added) for r in first.values()] == [("created", 259), ("created", 259)]
    stored = current_values(engine, "coffee")

    later = refresh_google(engine, recorded, {"coffee": monthly(recorded), "pizza": weekly})

    assert later["pizza"].outcome == "unchanged"
    coffee = later["coffee"]
    assert (coffee.outcome, coffee.version_id, coffee.rows_added) == ("error", None, 0)
    assert coffee.error.startswith(
        f"series 'coffee': Google Trends answered monthly points for timeframe '2023-01-01 {date.today()}', "
        "not weekly ones, so nothing is stored"
    )
    with engine.connect() as conn:
        assert [v["id"] for v in list_versions(conn, "coffee")] == [first["coffee"].version_id]
    assert current_values(engine, "coffee") == stored
    assert_store_consistent(engine)


def test_a_daily_answer_creates_nothing_and_the_weekly_series_beside_it_is_stored(
    engine: Engine, recorded: list[Interaction], shared_data: Path
) -> None:
    daily_cassette = load_cassette(shared_data / "pytrends-cassettes" / "test_interest_over_time_ok.yaml")
    daily = next(i for i in daily_cassette if "multiline" in i.uri)
    weekly = next(i for i in recorded if "multiline" in i.uri)
    add_series(engine, "bagel", "google_trends", {"timeframe": "2021-01-01 2021-01-05"})
    add_series(engine, "pizza", "google_trends", {})

    results = refresh_google(engine, recorded, {"bagel": daily, "pizza": weekly})

    assert (results["pizza"].outcome, results["pizza"].rows_added) == ("created", 259)
    assert results["bagel"].outcome == "error"
    assert results["bagel"].error.startswith(
        "series 'bagel': Google Trends answered daily points for timeframe '2021-01-01 2021-01-05'"
    )
    with engine.connect() as conn:
        assert {r["name"]: r["n_versions"] for r in series_overview(conn)} == {"bagel": 0, "pizza": 1}


def test_a_failed_first_download_names_the_series_once_and_creates_nothing(
    engine: Engine, csv_root: Path
) -> None:
    path = csv_root / "broken.csv"
    path.write_text("not a trends export\n")

    with pytest.raises(SourceError) as failure:
        add_and_download(engine, "broken", "csv", {"path": str(path)})

    assert str(failure.value) == (
        f"series 'broken': {path}: no data rows: no line starts with YYYY-MM-DD or YYYY-MM"
    )
    with engine.connect() as conn:
        assert series_overview(conn) == []


def test_a_failed_first_download_keeps_its_kind(engine: Engine, recorded: list[Interaction]) -> None:
    source = GoogleTrendsSource(GoogleTrendsSettings(retries=1), sleep=lambda _: None)
    explore = next(i for i in recorded if i.method == "POST")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, explore.url_pattern, status=429)
        register(mock, [i for i in recorded if i.method == "GET"])
        with pytest.raises(RateLimited) as failure:
            add_and_download(engine, "pizza", "google_trends", {}, sources={"google_trends": source})

    assert str(failure.value).startswith("series 'pizza': Google Trends answered 429 Too Many Requests")
    assert str(failure.value).count("series 'pizza'") == 1


WIDE = "date,a,b\n2024-01-07,1,2\n2024-01-14,3,4\n"


def test_a_csv_column_that_does_not_exist_is_refused_by_every_way_to_define_a_series(
    engine: Engine, csv_root: Path, app_for, auth
) -> None:
    client = app_for(engine).test_client()  # built after csv_root: it reads under the same root
    path = csv_root / "wide.csv"
    path.write_text(WIDE)
    params = {"path": str(path), "column": "c"}
    expected = f"series 's': {path}: column 'c' is not in the header (line 1)"

    with pytest.raises(InvalidInput) as by_function:
        add_series(engine, "s", "csv", params)
    with pytest.raises(InvalidInput) as by_apply:
        apply_document(engine, {"series": [{"name": "s", "source": "csv", "params": params}]})
    definition = {"name": "s", "source": "csv", "params": params}
    by_api = client.post("/api/timeseries", json=definition, headers=auth)

    assert str(by_function.value) == expected
    assert str(by_apply.value) == f"series[0] ('s'): {path}: column 'c' is not in the header (line 1)"
    assert (by_api.status_code, by_api.get_json()["error"]) == (400, expected)
    with engine.connect() as conn:
        assert series_overview(conn) == []
