"""``/api/model-config``, ``/api/data-config``, ``/api/preprocessing-config`` through the test client."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from forecasting.apply import apply_file
from forecasting.configs import create_data_config, create_params_config
from forecasting.series import add_series
from tests.conftest import SAMPLE_MODEL, SAMPLE_YAML
from tests.store_checks import statements

PREPROCESSING = {"horizon": [1, 2], "target_lags": [1, 2], "feature_lags": [1]}
ML = {"n_estimators": 10, "num_leaves": 7}
PARAMS_RESOURCES = [("model-config", ML), ("preprocessing-config", PREPROCESSING)]


@pytest.fixture
def series(engine: Engine) -> Engine:
    for name in ("coffee", "tea", "flu"):
        add_series(engine, name, "sample", {})
    return engine


@pytest.mark.parametrize(("resource", "params"), PARAMS_RESOURCES)
def test_params_config_is_created_listed_shown_and_deleted(client, auth, resource, params):
    response = client.post(f"/api/{resource}", json={"name": "small", "params": params}, headers=auth)

    assert response.status_code == 201
    created = response.get_json()
    assert isinstance(created["created_at"], str) and created["created_at"][:2] == "20"
    assert created == {"name": "small", "params": params, "created_at": created["created_at"], "n_models": 0}
    assert client.get(f"/api/{resource}/small").get_json() == created
    assert client.get(f"/api/{resource}").get_json() == [created]

    deleted = client.delete(f"/api/{resource}/small", headers=auth)

    assert deleted.status_code == 204 and deleted.data == b""
    assert client.get(f"/api/{resource}/small").status_code == 404
    assert client.get(f"/api/{resource}").get_json() == []


def test_data_config_is_created_listed_shown_and_deleted(series, client, auth):
    response = client.post(
        "/api/data-config",
        json={"name": "panel", "targets": ["tea", "coffee"], "features": ["flu"]},
        headers=auth,
    )

    assert response.status_code == 201
    created = response.get_json()
    assert created == {
        "name": "panel",
        "created_at": created["created_at"],
        "targets": ["coffee", "tea"],
        "features": ["flu"],
    }
    assert client.get("/api/data-config/panel").get_json() == created
    assert client.get("/api/data-config").get_json() == [created]
    assert client.delete("/api/data-config/panel", headers=auth).status_code == 204
    assert client.get("/api/data-config/panel").status_code == 404


def test_data_config_features_default_to_an_empty_list(series, client, auth):
    response = client.post("/api/data-config", json={"name": "solo", "targets": ["tea"]}, headers=auth)

    assert response.status_code == 201
    assert response.get_json()["features"] == []


@pytest.mark.parametrize(
    ("resource", "payload", "named"),
    [
        ("preprocessing-config", {"params": {**PREPROCESSING, "lags": [1]}}, "lags"),
        ("preprocessing-config", {"params": {"target_lags": [1]}}, "horizon"),
        ("preprocessing-config", {"params": {**PREPROCESSING, "target_lags": "1,2"}}, "target_lags"),
        ("preprocessing-config", {"params": {**PREPROCESSING, "feature_lags": [0]}}, "feature_lags"),
        ("preprocessing-config", {"params": {**PREPROCESSING, "include_lag_0": "yes"}}, "include_lag_0"),
        ("model-config", {"params": {"n_trees_please": 10}}, "n_trees_please"),
        ("model-config", {"params": {"num_leaves": 1}}, "num_leaves"),
        ("model-config", {"params": {"learning_rate": "fast"}}, "learning_rate must be a number, got 'fast'"),
        ("data-config", {"targets": ["tea"], "features": ["tea"]}, "tea"),
        ("data-config", {"targets": []}, "target"),
        ("data-config", {"targets": ["tea", "tea"]}, "twice"),
        ("data-config", {"targets": "tea"}, "targets"),
    ],
)
def test_an_invalid_config_is_400_naming_the_bad_key_and_nothing_is_created(
    series, client, auth, resource, payload, named
):
    response = client.post(f"/api/{resource}", json={"name": "bad", **payload}, headers=auth)

    assert response.status_code == 400
    assert named in response.get_json()["error"]
    assert client.get(f"/api/{resource}").get_json() == []


def test_a_data_config_naming_unknown_series_is_404_naming_them(series, client, auth):
    response = client.post(
        "/api/data-config",
        json={"name": "panel", "targets": ["tea", "cocoa"], "features": ["mate"]},
        headers=auth,
    )

    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown series: cocoa, mate"}
    assert client.get("/api/data-config").get_json() == []


@pytest.mark.parametrize(
    ("resource", "payload"),
    [
        ("model-config", {"params": ML}),
        ("preprocessing-config", {"params": PREPROCESSING}),
        ("data-config", {"targets": ["coffee"]}),
    ],
)
def test_a_taken_config_name_is_409(series, client, auth, resource, payload):
    assert client.post(f"/api/{resource}", json={"name": "dup", **payload}, headers=auth).status_code == 201

    response = client.post(f"/api/{resource}", json={"name": "dup", **payload}, headers=auth)

    assert response.status_code == 409
    assert "'dup' already exists" in response.get_json()["error"]
    assert len(client.get(f"/api/{resource}").get_json()) == 1


def test_configs_used_by_a_model_cannot_be_deleted_until_the_model_is(engine, client, auth):
    apply_file(engine, SAMPLE_YAML)
    in_use = {
        "model-config": "lgbm-small",
        "preprocessing-config": "weekly-12",
        "data-config": "sample-panel",
    }

    for resource, name in in_use.items():
        response = client.delete(f"/api/{resource}/{name}", headers=auth)
        assert response.status_code == 409
        assert SAMPLE_MODEL in response.get_json()["error"]
        assert client.get(f"/api/{resource}/{name}").status_code == 200
    assert client.get("/api/model-config/lgbm-small").get_json()["n_models"] == 1

    assert client.delete(f"/api/model/{SAMPLE_MODEL}", headers=auth).status_code == 204
    for resource, name in in_use.items():
        assert client.delete(f"/api/{resource}/{name}", headers=auth).status_code == 204


@pytest.mark.parametrize("resource", ["model-config", "preprocessing-config", "data-config"])
def test_unknown_configs_are_404(client, auth, resource):
    kind = resource.replace("-config", " config").replace("model config", "ml config")

    shown = client.get(f"/api/{resource}/nope")
    deleted = client.delete(f"/api/{resource}/nope", headers=auth)

    assert shown.status_code == deleted.status_code == 404
    assert shown.get_json() == deleted.get_json() == {"error": f"unknown {kind}: nope"}


def test_listing_configs_runs_the_same_statements_for_3_and_12_configs(series, app):
    client = app.test_client()
    engine = app.extensions["forecasting"]["engine"]

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            create_params_config(series, "ml_config", f"ml-{i:02}", {"n_estimators": 5 + i})
            create_params_config(
                series, "preprocessing_config", f"prep-{i:02}", {"horizon": i + 1, "target_lags": [1]}
            )
            create_data_config(series, f"data-{i:02}", ["coffee", "tea"], ["flu"])

    def count(n: int) -> dict[str, int]:
        counts = {}
        for resource in ("model-config", "preprocessing-config", "data-config"):
            with statements(engine) as seen:
                listed = client.get(f"/api/{resource}").get_json()
            counts[resource] = len(seen)
            assert len(listed) == n
        return counts

    add(0, 3)
    client.get("/api/model-config")  # the first request opens the pool's connection
    few = count(3)
    add(3, 12)
    many = count(12)

    assert many == few
    assert max(few.values()) <= 3
