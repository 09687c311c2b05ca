"""A refresh run in batches: states before and after, the failure deciding a retry, the models to train."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from forecasting.apply import apply_file
from forecasting.batches import batch_failure, changed_series, record_states, split
from forecasting.configs import models_to_train
from forecasting.errors import InvalidInput, NotFound, RateLimited, SourceError, SourceUnavailable
from forecasting.limits import MAX_BATCH_SIZE
from forecasting.refresh import RefreshResult, store
from forecasting.series import delete_series, series_specs
from tests.conftest import SAMPLE_MODEL, SAMPLE_YAML
from tests.store_checks import define, statements, weekly


def test_split_keeps_the_order_and_bounds_the_batch_size() -> None:
    assert split(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert split([], 3) == []
    for bad in (0, MAX_BATCH_SIZE + 1):
        with pytest.raises(InvalidInput, match="batch size"):
            split(["a"], bad)


def test_changed_series_are_those_a_refresh_created_appended_to_or_renewed(engine: Engine) -> None:
    define(engine, "appended", "created", "deleted", "renewed", "unchanged")
    with engine.connect() as conn:
        specs = {spec.name: spec for spec in series_specs(conn)}
    store(engine, list(specs.values()), {n: weekly([1, 2, 3]) for n in ("appended", "renewed", "unchanged")})
    before = record_states(engine)
    assert before["created"] == (None, 0) and before["unchanged"][1] == 3

    store(
        engine,
        list(specs.values()),
        {
            "appended": weekly([1, 2, 3, 4]),
            "created": weekly([5, 6]),
            "renewed": weekly([9, 9, 9]),
            "unchanged": weekly([1, 2, 3]),
        },
    )
    delete_series(engine, "deleted")

    assert changed_series(engine, before) == ["appended", "created", "renewed"]
    assert changed_series(engine, record_states(engine)) == []


def test_states_of_named_series_fail_on_unknown_names(engine: Engine) -> None:
    define(engine, "a", "b")
    assert list(record_states(engine, ["b"])) == ["b"]
    with pytest.raises(NotFound, match="unknown series: x, y"):
        record_states(engine, ["a", "y", "x"])


@pytest.mark.parametrize("n", [3, 30])
def test_states_and_changes_cost_one_statement_each_whatever_the_number_of_series(
    engine: Engine, n: int
) -> None:
    define(engine, *(f"s{i:03}" for i in range(n)))
    with statements(engine) as seen:
        before = record_states(engine)
        changed_series(engine, before)
    assert len(before) == n
    assert [statement.split()[0] for statement in seen if statement != "BEGIN"] == ["SELECT", "SELECT"]


def failed(exc: Exception) -> RefreshResult:
    return RefreshResult("s", "error", error=str(exc), exception=exc)


def test_the_batch_failure_is_the_one_that_decides_the_retry() -> None:
    ok = RefreshResult("ok", "unchanged", 1)
    bad, outage, limit = SourceError("a", "400"), SourceUnavailable("b", "503"), RateLimited("c", "429")
    assert batch_failure([ok]) is None
    assert batch_failure([ok, failed(bad)]) is bad
    assert batch_failure([failed(bad), failed(outage)]) is outage
    assert batch_failure([failed(bad), failed(outage), failed(limit)]) is limit


def test_a_result_reports_its_error_but_not_the_exception() -> None:
    assert failed(RateLimited("s", "429")).as_dict() == {
        "series": "s",
        "outcome": "error",
        "version_id": None,
        "rows_added": 0,
        "error": "series 's': 429",
    }


def test_models_to_train_are_the_named_ones_the_affected_ones_or_all(engine: Engine) -> None:
    apply_file(engine, SAMPLE_YAML)
    define(engine, "unused")
    with engine.connect() as conn:
        assert models_to_train(conn) == [SAMPLE_MODEL]
        assert models_to_train(conn, [SAMPLE_MODEL]) == [SAMPLE_MODEL]
        assert models_to_train(conn, changed_series=["sample-flu", "sample-tea"]) == [SAMPLE_MODEL]
        assert models_to_train(conn, changed_series=["unused"]) == []
        assert models_to_train(conn, changed_series=[]) == []
        with pytest.raises(NotFound, match="unknown model: nope"):
            models_to_train(conn, [SAMPLE_MODEL, "nope"])
        with statements(engine) as seen:
            models_to_train(conn, changed_series=["sample-flu"])
    assert len([statement for statement in seen if statement != "BEGIN"]) == 1
