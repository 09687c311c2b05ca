"""Refresh through the real sources: sample, csv, and the pytrends path with HTTP replayed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
import responses
from sqlalchemy import Engine, update

from forecasting.errors import NotFound
from forecasting.models import TimeSeries
from forecasting.refresh import refresh
from forecasting.series import add_series
from forecasting.sources.google_trends import GoogleTrendsSettings, GoogleTrendsSource
from tests.cassettes import load_cassette, register
from tests.store_checks import assert_store_consistent, current_values


def test_sample_series_refresh_is_created_then_unchanged_then_appended(engine: Engine) -> None:
    add_series(engine, "s", "sample", {"end": "2024-06-02", "periods": "52"})
    assert [(r.outcome, r.rows_added) for r in refresh(engine)] == [("created", 52)]
    assert [(r.outcome, r.rows_added) for r in refresh(engine)] == [("unchanged", 0)]
    with engine.begin() as conn:
        conn.execute(update(TimeSeries).values(params={"seed": 1, "periods": 52, "end": "2024-06-16"}))
    [result] = refresh(engine)
    assert result.outcome == "new_version"  # another seed: another history


def test_a_failing_series_is_reported_and_the_others_are_stored(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("time,value\n2024-01-07,1\n2024-01-14,<1\n")
    empty = tmp_path / "empty.csv"
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
