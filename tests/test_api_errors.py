"""Every 4xx of the API is JSON ``{"error": ...}``: auth, bodies, methods, routes."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from forecasting.apply import apply_file
from tests.conftest import API_TOKEN, SAMPLE_MODEL, SAMPLE_YAML

# One write of each kind on each blueprint (none of them may run without the token).
WRITES = [
    ("post", "/api/timeseries"),
    ("delete", "/api/timeseries/sample-tea"),
    ("post", "/api/timeseries/sample-tea/update-values"),
    ("post", "/api/timeseries/update-all-values"),
    ("post", "/api/model-config"),
    ("delete", "/api/model-config/lgbm-small"),
    ("post", "/api/data-config"),
    ("delete", "/api/data-config/sample-panel"),
    ("post", "/api/preprocessing-config"),
    ("delete", "/api/preprocessing-config/weekly-12"),
    ("post", "/api/model"),
    ("delete", f"/api/model/{SAMPLE_MODEL}"),
    ("post", f"/api/model/{SAMPLE_MODEL}/train"),
    ("post", f"/api/model/{SAMPLE_MODEL}/predict"),
]
READS = [
    "/api/timeseries",
    "/api/timeseries/sample-tea",
    "/api/timeseries/sample-tea/versions",
    "/api/model-config",
    "/api/data-config/sample-panel",
    "/api/preprocessing-config",
    "/api/model",
    f"/api/model/{SAMPLE_MODEL}/versions",
]


@pytest.fixture
def configured(engine: Engine) -> Engine:
    apply_file(engine, SAMPLE_YAML)
    return engine


def listing(client) -> dict[str, int]:
    """How many objects of each kind the API lists: unchanged after a refused write."""
    kinds = ("timeseries", "model-config", "data-config", "preprocessing-config", "model")
    return {kind: len(client.get(f"/api/{kind}").get_json()) for kind in kinds}


def test_writes_on_a_service_without_a_token_are_403_saying_how_to_enable_them(configured, app_for):
    app = app_for(configured, api_token=None)
    client = app.test_client()
    before = listing(client)

    for method, url in WRITES:
        response = getattr(client, method)(
            url, json={"name": "x"}, headers={"Authorization": "Bearer anything"}
        )
        assert response.status_code == 403, url
        message = response.get_json()["error"]
        assert "FORECASTING_API_TOKEN" in message and "Authorization: Bearer" in message
    assert listing(client) == before
    assert all(client.get(url).status_code == 200 for url in READS)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {API_TOKEN}"},
        {"Authorization": API_TOKEN},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {API_TOKEN}x"},
    ],
    ids=["missing", "wrong", "basic", "no-scheme", "empty", "longer"],
)
def test_writes_with_a_missing_or_wrong_token_are_401_with_www_authenticate(configured, client, headers):
    before = listing(client)

    for method, url in WRITES:
        response = getattr(client, method)(url, json={"name": "x"}, headers=headers)
        assert response.status_code == 401, url
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization: Bearer <token>" in response.get_json()["error"]
    assert listing(client) == before


def test_reads_need_no_token(configured, client):
    for url in READS:
        response = client.get(url)
        assert response.status_code == 200, url


def test_the_bearer_scheme_is_case_insensitive(configured, client):
    response = client.delete(
        "/api/preprocessing-config/weekly-12", headers={"Authorization": f"bearer {API_TOKEN}"}
    )

    assert response.status_code == 409  # authorised, refused because the sample model uses it


@pytest.mark.parametrize("url", ["/api/timeseries", "/api/model-config", "/api/data-config", "/api/model"])
def test_malformed_json_is_400(client, auth, url):
    response = client.post(url, data='{"name": "x",', content_type="application/json", headers=auth)

    assert response.status_code == 400
    assert response.get_json() == {"error": "the request body is not valid JSON"}


@pytest.mark.parametrize(
    ("raw", "kind"), [("[1, 2]", "an array"), ("null", "null"), ("3", "a number"), ('"x"', "a string")]
)
def test_a_body_that_is_not_a_json_object_is_400(client, auth, raw, kind):
    response = client.post("/api/model-config", data=raw, content_type="application/json", headers=auth)

    assert response.status_code == 400
    assert response.get_json() == {"error": f"the request body must be a JSON object, not {kind}"}


def test_an_empty_body_is_400_where_one_is_needed(client, auth):
    response = client.post("/api/model-config", headers=auth)

    assert response.status_code == 400
    assert response.get_json() == {"error": "the request needs a JSON object body"}


@pytest.mark.parametrize(
    ("url", "payload", "message"),
    [
        ("/api/timeseries", {"source": "sample"}, "missing field 'name'"),
        ("/api/timeseries", {"name": 3, "source": "sample"}, "field 'name' must be str, got 3"),
        (
            "/api/timeseries",
            {"name": "s", "source": "sample", "params": []},
            "field 'params' must be dict, got []",
        ),
        ("/api/model-config", {"name": "m", "params": [1]}, "field 'params' must be dict, got [1]"),
        ("/api/preprocessing-config", {"name": None, "params": {}}, "field 'name' must be str, got None"),
        ("/api/data-config", {"name": "d", "targets": "tea"}, "field 'targets' must be list, got 'tea'"),
        (
            "/api/data-config",
            {"name": "d", "targets": ["t"], "features": {}},
            "field 'features' must be list, got {}",
        ),
        ("/api/model", {"name": "m", "ml_config": 1}, "field 'ml_config' must be str, got 1"),
        (f"/api/model/{SAMPLE_MODEL}/train", {"windows": 1.5}, "field 'windows' must be int, got 1.5"),
        (f"/api/model/{SAMPLE_MODEL}/train", {"gate": 1}, "field 'gate' must be bool, got 1"),
        (f"/api/model/{SAMPLE_MODEL}/predict", {"history": {}}, "field 'history' must be list, got {}"),
    ],
)
def test_wrong_field_types_are_400_naming_the_field(configured, client, auth, url, payload, message):
    before = listing(client)

    response = client.post(url, json=payload, headers=auth)

    assert response.status_code == 400
    assert response.get_json() == {"error": message}
    assert listing(client) == before


def test_a_body_over_max_body_bytes_is_413_json(configured, app_for, auth):
    app = app_for(configured, max_body_bytes=256)
    client = app.test_client()
    padding = "x" * 300

    for url in (
        "/api/model-config",
        "/api/timeseries",
        "/api/timeseries/sample-tea/update-values",  # a route that never reads its body
        "/api/timeseries/update-all-values",
        f"/api/model/{SAMPLE_MODEL}/train",
    ):
        response = client.post(url, json={"name": "big", "padding": padding}, headers=auth)
        assert response.status_code == 413, url
        assert "at most 256" in response.get_json()["error"]
    assert client.get("/api/timeseries/sample-tea/versions").get_json() == []
    small = client.post("/api/model-config", json={"name": "small", "params": {}}, headers=auth)
    assert small.status_code == 201


def test_an_oversize_body_without_a_token_is_401_not_413(configured, app_for):
    app = app_for(configured, max_body_bytes=16)
    response = app.test_client().post("/api/model-config", json={"padding": "x" * 100})

    assert response.status_code == 401


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    "url",
    [
        "/api/timeseries",
        "/api/timeseries/sample-tea",
        "/api/model-config/lgbm-small",
        "/api/data-config/sample-panel",
        "/api/preprocessing-config/weekly-12",
        f"/api/model/{SAMPLE_MODEL}",
    ],
)
def test_put_and_patch_are_405_json(configured, client, auth, method, url):
    response = getattr(client, method)(url, json={"name": "x"}, headers=auth)

    assert response.status_code == 405
    assert response.get_json() == {"error": "The method is not allowed for the requested URL."}
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("url", ["/api/nothing", "/api/timeseries/a/b/c", "/nothing"])
def test_an_unknown_route_is_404_json(client, url):
    response = client.get(url)

    assert response.status_code == 404
    assert response.is_json and "not found" in response.get_json()["error"]
