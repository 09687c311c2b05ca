"""The version-detection contract of DESIGN.md, case by case, on SQLite and Postgres."""

from __future__ import annotations

from sqlalchemy import Engine, event, func, select

from forecasting.models import TSValue
from forecasting.refresh import store
from forecasting.series import list_versions
from tests.store_checks import (
    add_many,
    assert_store_consistent,
    current_values,
    snapshot,
    statements,
    weekly,
)


def outcome(engine: Engine, specs, downloads) -> dict[str, tuple[str, int]]:
    return {r.series: (r.outcome, r.rows_added) for r in store(engine, specs, downloads)}


def test_first_download_creates_a_version_holding_all_rows(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    [result] = store(engine, specs, {"a": weekly([1, 2, 3])})
    assert (result.outcome, result.rows_added) == ("created", 3)
    assert current_values(engine, "a") == [("2024-01-07", 1.0), ("2024-01-14", 2.0), ("2024-01-21", 3.0)]
    with engine.connect() as conn:
        assert [v["id"] for v in list_versions(conn, "a")] == [result.version_id]
    assert_store_consistent(engine)


def test_same_download_again_is_unchanged_and_writes_nothing(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    first = store(engine, specs, {"a": weekly([1, 2, 3])})
    before = snapshot(engine)
    [again] = store(engine, specs, {"a": weekly([1, 2, 3])})
    assert (again.outcome, again.rows_added, again.version_id) == ("unchanged", 0, first[0].version_id)
    assert snapshot(engine) == before


def test_new_weeks_with_the_same_history_are_appended_to_the_current_version(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    [first] = store(engine, specs, {"a": weekly([1, 2, 3])})
    [result] = store(engine, specs, {"a": weekly([1, 2, 3, 4, 5])})
    assert (result.outcome, result.rows_added, result.version_id) == ("appended", 2, first.version_id)
    assert [v for _, v in current_values(engine, "a")] == [1, 2, 3, 4, 5]
    assert_store_consistent(engine)


def test_a_changed_past_value_expires_the_old_version_and_keeps_it(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    [first] = store(engine, specs, {"a": weekly([1, 2, 3])})
    [result] = store(engine, specs, {"a": weekly([1, 9, 3, 4])})
    assert (result.outcome, result.rows_added) == ("new_version", 4)
    assert result.version_id != first.version_id
    with engine.connect() as conn:
        versions = list_versions(conn, "a")
        old_values = conn.scalars(
            select(TSValue.value).where(TSValue.version_id == first.version_id).order_by(TSValue.time)
        ).all()
    assert [(v["id"], v["expired"], v["n_values"]) for v in versions] == [
        (first.version_id, True, 3),
        (result.version_id, False, 4),
    ]
    assert old_values == [1, 2, 3]
    assert [v for _, v in current_values(engine, "a")] == [1, 9, 3, 4]
    assert_store_consistent(engine)


def test_a_download_missing_an_old_week_creates_a_new_version(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    store(engine, specs, {"a": weekly([1, 2, 3])})
    [result] = store(engine, specs, {"a": weekly([2, 3, 4], start="2024-01-14")})
    assert (result.outcome, result.rows_added) == ("new_version", 3)
    assert current_values(engine, "a")[0] == ("2024-01-14", 2.0)


def test_a_download_starting_earlier_with_the_same_history_appends_the_earlier_rows(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    [first] = store(engine, specs, {"a": weekly([2, 3], start="2024-01-14")})
    [result] = store(engine, specs, {"a": weekly([1, 2, 3])})
    assert (result.outcome, result.rows_added, result.version_id) == ("appended", 1, first.version_id)
    assert [v for _, v in current_values(engine, "a")] == [1, 2, 3]
    assert_store_consistent(engine)


def test_a_download_filling_a_gap_of_the_history_appends_the_missing_rows(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    with_gap = weekly([1, 2, 3, 4]).drop(index=1)
    [first] = store(engine, specs, {"a": with_gap})
    [result] = store(engine, specs, {"a": weekly([1, 2, 3, 4, 5])})
    assert (result.outcome, result.rows_added, result.version_id) == ("appended", 2, first.version_id)
    assert [v for _, v in current_values(engine, "a")] == [1, 2, 3, 4, 5]
    assert_store_consistent(engine)


def test_a_download_filling_a_gap_but_changing_a_value_creates_a_new_version(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    store(engine, specs, {"a": weekly([1, 2, 3, 4]).drop(index=1)})
    [result] = store(engine, specs, {"a": weekly([1, 2, 7, 4])})
    assert (result.outcome, result.rows_added) == ("new_version", 4)
    assert_store_consistent(engine)


def test_value_equality_is_exact_for_fractional_values(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    store(engine, specs, {"a": weekly([0.5, 1 / 3, 2.25])})
    assert outcome(engine, specs, {"a": weekly([0.5, 1 / 3, 2.25, 0.1])}) == {"a": ("appended", 1)}
    assert outcome(engine, specs, {"a": weekly([0.5, 1 / 3 + 1e-12, 2.25, 0.1])}) == {"a": ("new_version", 4)}


def test_each_series_of_a_batch_gets_its_own_outcome(engine: Engine) -> None:
    specs = add_many(engine, ["new", "same", "grown", "changed"])
    store(engine, specs, {"same": weekly([1, 2]), "grown": weekly([1, 2]), "changed": weekly([1, 2])})
    results = outcome(
        engine,
        specs,
        {"new": weekly([5]), "same": weekly([1, 2]), "grown": weekly([1, 2, 3]), "changed": weekly([1, 3])},
    )
    assert results == {
        "new": ("created", 1),
        "same": ("unchanged", 0),
        "grown": ("appended", 1),
        "changed": ("new_version", 2),
    }
    assert_store_consistent(engine)


def test_old_versions_are_never_deleted(engine: Engine) -> None:
    specs = add_many(engine, ["a"])
    for k in range(4):
        store(engine, specs, {"a": weekly([k, k + 1])})
    with engine.connect() as conn:
        versions = list_versions(conn, "a")
        n_values = conn.scalar(select(func.count()).select_from(TSValue))
    assert [v["expired"] for v in versions] == [True, True, True, False]
    assert n_values == 8
    assert_store_consistent(engine)


def test_refresh_statement_count_does_not_grow_with_the_number_of_series(engine: Engine) -> None:
    def run(n: int) -> tuple[int, int]:
        names = [f"n{n}-{i}" for i in range(n)]
        specs = add_many(engine, names)
        with statements(engine) as first:
            store(engine, specs, {name: weekly(range(10)) for name in names})
        # mixed second download: unchanged, appended, new version and gap-filled series
        second = {}
        for i, name in enumerate(names):
            second[name] = [weekly(range(10)), weekly(range(11)), weekly(range(1, 11)), weekly(range(12))][
                i % 4
            ]
        with statements(engine) as refresh:
            results = store(engine, specs, second)
        assert {r.outcome for r in results} == {"unchanged", "appended", "new_version"}
        return len(first), len(refresh)

    assert run(5) == run(200)


def test_a_failure_at_any_statement_leaves_the_store_unchanged(engine: Engine) -> None:
    specs = add_many(engine, ["same", "grown", "changed", "gap"])
    first = {name: weekly([1, 2, 3, 4]) for name in ["same", "grown", "changed"]}
    store(engine, specs, first | {"gap": weekly([1, 2, 3, 4]).drop(index=2)})
    second = {
        "same": weekly([1, 2, 3, 4]),
        "grown": weekly([1, 2, 3, 4, 5]),
        "changed": weekly([1, 2, 9, 4]),
        "gap": weekly([1, 2, 3, 4]),
    }
    before = snapshot(engine)
    fail_at = 0
    while True:
        fail_at += 1
        count = 0

        def fail(*_args: object, limit: int = fail_at) -> None:
            nonlocal count
            count += 1
            if count == limit:
                raise RuntimeError(f"injected failure at statement {limit}")

        event.listen(engine, "before_cursor_execute", fail)
        try:
            results = store(engine, specs, second)
        except RuntimeError as exc:
            assert "injected failure" in str(exc)
            assert snapshot(engine) == before, f"the store changed after a failure at statement {fail_at}"
            continue
        finally:
            event.remove(engine, "before_cursor_execute", fail)
        break
    assert fail_at > 8  # every statement of the refresh was a failure point once
    assert {r.series: r.outcome for r in results} == {
        "same": "unchanged",
        "grown": "appended",
        "changed": "new_version",
        "gap": "appended",
    }
    assert_store_consistent(engine)
