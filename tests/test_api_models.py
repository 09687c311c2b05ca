"""``/api/model``: models, inline training, predictions (served and what-if), versions, backtests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from forecasting.apply import apply_file
from forecasting.configs import create_model
from forecasting.limits import MAX_WINDOWS
from forecasting.refresh import refresh
from tests.conftest import SAMPLE_MODEL, SAMPLE_YAML
from tests.store_checks import statements

CONFIGS = {"ml_config": "lgbm-small", "data_config": "sample-panel", "preprocessing_config": "weekly-12"}
TARGETS = ["sample-coffee", "sample-tea"]
HORIZONS = list(range(1, 13))


@pytest.fixture
def configured(engine: Engine) -> Engine:
    """The sample configs, model and data, without any trained version."""
    apply_file(engine, SAMPLE_YAML)
    refresh(engine)
    return engine


def test_model_is_created_listed_shown_and_deleted(configured, client, auth):
    response = client.post("/api/model", json={"name": "second", **CONFIGS}, headers=auth)

    assert response.status_code == 201
    created = response.get_json()
    assert created == {
        "name": "second",
        **CONFIGS,
        "served_version": None,
        "served_created_at": None,
        "mase": None,
        "n_versions": 0,
    }
    assert client.get("/api/model/second").get_json() == created
    assert [m["name"] for m in client.get("/api/model").get_json()] == ["sample-forecast", "second"]
    assert client.get("/api/model/second/versions").get_json() == []

    deleted = client.delete("/api/model/second", headers=auth)

    assert deleted.status_code == 204 and deleted.data == b""
    assert client.get("/api/model/second").status_code == 404
    assert [m["name"] for m in client.get("/api/model").get_json()] == ["sample-forecast"]


def test_creating_a_model_with_unknown_configs_is_404_naming_them(configured, client, auth):
    response = client.post(
        "/api/model",
        json={"name": "m", **CONFIGS, "ml_config": "nope", "preprocessing_config": "daily"},
        headers=auth,
    )

    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown ml config 'nope', preprocessing config 'daily'"}
    assert client.get("/api/model/m").status_code == 404


def test_creating_a_model_with_a_taken_or_blank_name_is_refused(configured, client, auth):
    taken = client.post("/api/model", json={"name": SAMPLE_MODEL, **CONFIGS}, headers=auth)
    blank = client.post("/api/model", json={"name": "", **CONFIGS}, headers=auth)
    missing = client.post("/api/model", json={"name": "m", "ml_config": "lgbm-small"}, headers=auth)

    assert taken.status_code == 409 and SAMPLE_MODEL in taken.get_json()["error"]
    assert blank.status_code == 400 and "name" in blank.get_json()["error"]
    assert missing.status_code == 400 and "data_config" in missing.get_json()["error"]
    assert len(client.get("/api/model").get_json()) == 1


def test_a_model_without_a_ready_version_has_no_prediction_or_backtest(configured, client):
    for url in (f"/api/model/{SAMPLE_MODEL}/predict", f"/api/model/{SAMPLE_MODEL}/backtest"):
        response = client.get(url)
        assert response.status_code == 404
        assert "no ready version" in response.get_json()["error"]


def test_train_inline_returns_201_with_a_ready_version_that_predict_then_serves(configured, client, auth):
    response = client.post(f"/api/model/{SAMPLE_MODEL}/train", json={"windows": 0}, headers=auth)

    assert response.status_code == 201
    trained = response.get_json()
    data_versions = {s["name"]: s["current_version_id"] for s in client.get("/api/timeseries").get_json()}
    assert {k: v for k, v in trained.items() if k != "timings"} == {
        "model": SAMPLE_MODEL,
        "version_id": trained["version_id"],
        "status": "ready",
        "reason": None,
        "rows": trained["rows"],
        "data_versions": data_versions,
        "mase": None,  # no backtest with windows 0
    }
    assert trained["rows"] > 0 and trained["timings"]["total_s"] >= 0

    predicted = client.get(f"/api/model/{SAMPLE_MODEL}/predict")

    assert predicted.status_code == 200
    assert predicted.headers["X-Model-Version"] == str(trained["version_id"])
    forecast = predicted.get_json()
    assert forecast["model"] == SAMPLE_MODEL
    assert forecast["model_version"] == trained["version_id"]
    assert forecast["data_versions"] == forecast["trained_on_data_versions"] == data_versions
    assert [(f["series"], f["horizon"]) for f in forecast["forecasts"]] == [
        (series, h) for series in TARGETS for h in HORIZONS
    ]
    for row in forecast["forecasts"]:
        assert set(row) == {
            "series",
            "last_date",
            "last_value",
            "horizon",
            "target_date",
            "prediction",
            "predicted_delta",
            "lower",
            "upper",
        }
        last = date.fromisoformat(row["last_date"][:10])
        assert last.weekday() == 6  # Sunday, like every sample week
        assert date.fromisoformat(row["target_date"][:10]) == last + timedelta(weeks=row["horizon"])
        assert row["predicted_delta"] == pytest.approx(row["prediction"] - row["last_value"], abs=1e-5)
    overview = client.get(f"/api/model/{SAMPLE_MODEL}").get_json()
    assert (overview["served_version"], overview["n_versions"]) == (trained["version_id"], 1)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"windows": MAX_WINDOWS + 1}, f"'windows' must be between 0 and {MAX_WINDOWS}"),
        ({"windows": -1}, f"'windows' must be between 0 and {MAX_WINDOWS}"),
        ({"windows": "2"}, "'windows' must be int"),
        ({"windows": True}, "'windows' must be int"),
        ({"gate": "yes"}, "'gate' must be bool"),
    ],
)
def test_train_refuses_bad_windows_and_gate_with_400(configured, client, auth, payload, named):
    response = client.post(f"/api/model/{SAMPLE_MODEL}/train", json=payload, headers=auth)

    assert response.status_code == 400
    assert named in response.get_json()["error"]
    assert client.get(f"/api/model/{SAMPLE_MODEL}/versions").get_json() == []


def test_versions_and_backtest_of_the_served_version_and_404_for_unknown_versions(served, client):
    versions = client.get(f"/api/model/{SAMPLE_MODEL}/versions").get_json()

    assert len(versions) == 1
    (version,) = versions
    assert version == {
        "id": version["id"],
        "created_at": version["created_at"],
        "status": "ready",
        "served": True,
        "mase": version["mase"],
        "rows": version["rows"],
        "data_versions": {"sample-coffee": 1, "sample-flu": 3, "sample-tea": 2},
        "reason": None,
    }
    assert 0 < version["mase"] < 5 and version["rows"] > 0

    backtest = client.get(f"/api/model/{SAMPLE_MODEL}/backtest").get_json()

    assert (backtest["model"], backtest["model_version"], backtest["status"]) == (
        SAMPLE_MODEL,
        version["id"],
        "ready",
    )
    assert backtest["backtest"]["windows"] == 2
    assert backtest["backtest"]["mase"] == version["mase"]
    assert {m["method"] for m in backtest["backtest"]["metrics"]} >= {"model", "seasonal_naive"}
    assert client.get(f"/api/model/{SAMPLE_MODEL}/backtest?version={version['id']}").get_json() == backtest
    overview = client.get(f"/api/model/{SAMPLE_MODEL}").get_json()
    assert (overview["served_version"], overview["mase"]) == (version["id"], version["mase"])
    unknown = client.get(f"/api/model/{SAMPLE_MODEL}/backtest?version=999")
    assert unknown.status_code == 404
    assert unknown.get_json() == {"error": f"model '{SAMPLE_MODEL}' has no version 999"}
    malformed = client.get(f"/api/model/{SAMPLE_MODEL}/backtest?version=latest")
    assert malformed.status_code == 400 and "version" in malformed.get_json()["error"]


def test_what_if_predict_with_supplied_history_changes_the_prediction(served, client, auth):
    served_forecast = client.get(f"/api/model/{SAMPLE_MODEL}/predict").get_json()
    coffee = client.get("/api/timeseries/sample-coffee/latest-values").get_json()["values"]
    history = [
        {"series": "sample-coffee", "time": v["time"], "value": min(100.0, v["value"] * 2)} for v in coffee
    ]

    response = client.post(f"/api/model/{SAMPLE_MODEL}/predict", json={"history": history}, headers=auth)

    assert response.status_code == 200
    what_if = response.get_json()
    assert what_if["model_version"] == served_forecast["model_version"]
    assert what_if["data_versions"] == {**served_forecast["data_versions"], "sample-coffee": None}

    def predictions(document, series):
        return [f["prediction"] for f in document["forecasts"] if f["series"] == series]

    assert predictions(what_if, "sample-coffee") != predictions(served_forecast, "sample-coffee")
    assert [f["last_value"] for f in what_if["forecasts"] if f["series"] == "sample-coffee"][0] == history[
        -1
    ]["value"]
    assert predictions(what_if, "sample-tea") == predictions(served_forecast, "sample-tea")
    # the what-if forecast is not cached: the served forecast is unchanged
    assert client.get(f"/api/model/{SAMPLE_MODEL}/predict").get_json() == served_forecast


MALFORMED_HISTORY = [
    ({}, "missing field 'history'"),
    ({"history": []}, "'history' must be a non-empty list"),
    ({"history": "sample-coffee"}, "'history' must be list"),
    ({"history": [1, 2]}, "'history' must be a non-empty list"),
    ({"history": [{"series": ["sample-coffee"], "time": "2024-01-07", "value": 1}]}, "{series, time, value}"),
    ({"history": [{"series": "cocoa", "time": "2024-01-07", "value": 1}]}, "cocoa"),
    ({"history": [{"series": "sample-tea", "time": "someday", "value": 1}]}, "bad time or value"),
    ({"history": [{"series": "sample-tea", "time": "2024-01-07", "value": "x"}]}, "bad time or value"),
    ({"history": [{"series": "sample-tea", "time": "2024-01-07"}]}, "missing: value"),
]


def test_what_if_predict_refuses_malformed_history_with_400(served, client, auth):
    for payload, named in MALFORMED_HISTORY:  # one trained store for every case: training is the cost
        response = client.post(f"/api/model/{SAMPLE_MODEL}/predict", json=payload, headers=auth)
        assert response.status_code == 400, payload
        assert named in response.get_json()["error"], payload


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/model/nope"),
        ("delete", "/api/model/nope"),
        ("post", "/api/model/nope/train"),
        ("get", "/api/model/nope/predict"),
        ("get", "/api/model/nope/versions"),
        ("get", "/api/model/nope/backtest"),
    ],
)
def test_unknown_models_are_404(client, auth, method, url):
    response = getattr(client, method)(url, headers=auth)

    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown model: nope"}


def test_what_if_predict_of_an_unknown_model_is_404(client, auth):
    history = [{"series": "sample-tea", "time": "2024-01-07", "value": 1}]

    response = client.post("/api/model/nope/predict", json={"history": history}, headers=auth)

    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown model: nope"}


def test_deleting_a_model_deletes_its_versions_and_frees_its_configs(served, client, auth):
    assert client.delete(f"/api/model/{SAMPLE_MODEL}", headers=auth).status_code == 204

    assert client.get(f"/api/model/{SAMPLE_MODEL}/versions").status_code == 404
    assert client.get(f"/api/model/{SAMPLE_MODEL}/predict").status_code == 404
    assert client.delete("/api/model-config/lgbm-small", headers=auth).status_code == 204


def test_listing_models_runs_the_same_statements_for_3_and_12_models(configured, app):
    client = app.test_client()
    engine = app.extensions["forecasting"]["engine"]
    for i in range(2):  # with the sample model: 3
        create_model(configured, f"model-{i:02}", **CONFIGS)
    client.get("/api/model")  # the first request opens the pool's connection

    with statements(engine) as few:
        assert len(client.get("/api/model").get_json()) == 3
    for i in range(2, 11):
        create_model(configured, f"model-{i:02}", **CONFIGS)
    with statements(engine) as many:
        assert len(client.get("/api/model").get_json()) == 12

    assert len(many) == len(few) <= 3
