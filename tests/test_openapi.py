"""``/openapi.json`` describes every route, and the service keeps to it under schemathesis.

The schema is loaded from the served endpoint of a throwaway app (the document needs
no database); each operation then runs against its own copy of a SQLite store with
the sample model trained, so a generated DELETE of a real object cannot starve the
operations tested after it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from pytrends.request import BASE_TRENDS_URL, TrendReq
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from forecasting.db import make_engine
from forecasting.migrate import upgrade
from forecasting.registry import training
from serving import add_routes, airflow_runs
from serving.jsonio import JSONProvider
from tests.cassettes import url_pattern
from tests.conftest import SAMPLE_MODEL, serve_sample

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
CONFORMANCE = CHECKS[1:]  # for the cases that provoke a documented 502 or 504 on purpose
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _document_app() -> Flask:
    """The routes without a service: loading the schema must not build one (nor a database) at import."""
    app = Flask(__name__)
    app.json = JSONProvider(app)
    add_routes(app)
    return app


# Training for real takes about a second (a backtest, a fit and the artifact's check in a child
# process), and the coverage phase's boundary bodies would train ~50 times on the sample model:
# train keeps the examples and fuzzing phases here, and test_real_objects_answer_as_documented.
# The document states every rule of the service's own (names, ids, types, bounds, enums, texts
# without NUL; preprocessing params and data config members by the domain's own schemas). What
# the domain judges by content beyond a schema -- a source's params, an ML config's tiny fit on
# LightGBM's table, a what-if history's series and weeks, a CSV upload's rows -- may refuse a
# valid-looking request with 400 (the message names the param). A series' params are stated by its
# source's schema, so POST /api/timeseries is fuzzed strictly: its CSV paths name no file of the
# fuzzed app's root (404) and Google answers from a local stand-in; the 400s a CSV file's header or
# text gives when a series is defined are test_csv_series_answer_as_documented's.
# /api/timeseries/update-all-values is also
# /api/timeseries/<name> to the router: OPTIONS lists that route's methods too, and a GET or DELETE
# of it answers that no such series exists (404), not 405.
DOMAIN_JUDGED = [
    ("POST", "/api/timeseries/{name}/upload"),
    ("POST", "/api/model-config"),
    ("POST", "/api/model/{name}/predict"),
]
CONFIG = schemathesis.Config.from_str(
    """
[[operations]]
include-path = "/api/model/{name}/train"
phases.coverage.enabled = false

[[operations]]
include-path = "/api/timeseries/update-all-values"
checks.allow_header_conformance.enabled = false
checks.unsupported_method.enabled = false
"""
    + "".join(
        f"""
[[operations]]
include-path = "{path}"
include-method = "{method}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "5xx"]
"""
        for method, path in DOMAIN_JUDGED
    )
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", _document_app(), config=CONFIG)


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with examples/sample.yaml applied, downloaded and trained, built once."""
    path = tmp_path_factory.mktemp("openapi") / "sample.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    serve_sample(engine)
    engine.dispose()
    return path


@pytest.fixture
def app(sample_store: Path, tmp_path: Path, app_for) -> Iterator[Flask]:
    """The service on a private copy of the sample store (copying a file beats re-training), reading
    CSV files from an empty root of its own."""
    copy = tmp_path / "store.db"
    shutil.copyfile(sample_store, copy)
    engine = make_engine(f"sqlite:///{copy}")
    (tmp_path / "csv-root").mkdir()
    yield app_for(engine, csv_roots=str(tmp_path / "csv-root"))
    engine.dispose()


def _google_answer(method: str, url: str, prefix: str, document: dict) -> responses.Response:
    """An answer of Google's JSON API: its anti-hijacking first line, then the document."""
    body = prefix + json.dumps(document)
    return responses.Response(method, url_pattern(url), body=body, content_type="application/json")


@pytest.fixture
def google() -> Iterator[responses.RequestsMock]:
    """Google Trends emulated for the real pytrends code: the cookie, the explore tokens and three
    weekly points (the last partial) for any keyword, at once; any other host is unreachable."""
    sundays = [datetime(2026, 11, 1) + timedelta(weeks=week) for week in range(3)]
    points = [
        {"time": str(int((day - datetime(1970, 1, 1)).total_seconds())), "value": [40 + week]}
        for week, day in enumerate(sundays)
    ]
    points[-1]["isPartial"] = True
    explore = {"widgets": [{"id": "TIMESERIES", "request": {}, "token": "stand-in"}]}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("GET", url_pattern(f"{BASE_TRENDS_URL}/explore/"), headers={"Set-Cookie": "NID=1"})
        mock.add(_google_answer("POST", TrendReq.GENERAL_URL, ")]}'\n", explore))
        timeline = {"default": {"timelineData": points}}
        mock.add(_google_answer("GET", TrendReq.INTEREST_OVER_TIME_URL, ")]}',\n", timeline))
        yield mock


def _documented() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _routed(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):  # files, not the API
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods - IGNORED_METHODS}
    return routes


def test_every_route_is_documented(app: Flask):
    """Both directions: an undocumented route and a documented route that no longer exists."""
    routed, documented = _routed(app), _documented()
    assert sorted(routed - documented) == []
    assert sorted(documented - routed) == []


def test_document_is_served_and_describes_writes(app: Flask):
    """The service serves the document schemathesis loaded; writes, and only writes, need the token."""
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document == schema.raw_schema
    assert document["openapi"].startswith("3.1")
    assert "Authorization: Bearer" in document["info"]["description"]
    assert "FORECASTING_API_TOKEN" in document["info"]["description"]
    for path, method in _documented():
        operation = document["paths"][path][method.lower()]
        writes = method != "GET" and path.startswith("/api/")
        assert (operation["security"] == [{"bearer": []}]) is writes, (method, path)
        assert ("401" in operation["responses"]) is writes, (method, path)


def test_writes_without_token_are_401_as_documented(app: Flask):
    """The generated runs always send the token; this is the case they never make."""
    case = schema["/api/model/{name}"]["DELETE"].Case(path_parameters={"name": SAMPLE_MODEL})
    response = case.call_and_validate(app=app, checks=CHECKS)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "method", "parameters", "body", "status"),
    [
        ("/api/model/{name}/predict", "GET", {"name": SAMPLE_MODEL}, None, 200),
        (
            "/api/model/{name}/predict",
            "POST",
            {"name": SAMPLE_MODEL},
            {"history": [{"series": "sample-flu", "time": "2026-11-15", "value": 50.0}]},
            200,
        ),
        ("/api/model/{name}/train", "POST", {"name": SAMPLE_MODEL}, {"windows": 0}, 201),
        ("/api/model/{name}/backtest", "GET", {"name": SAMPLE_MODEL}, None, 200),
        (
            "/api/timeseries/{name}/versions/{version_id}/values",
            "GET",
            {"name": "sample-tea", "version_id": 2},
            None,
            200,
        ),
        ("/api/timeseries/{name}/update-values", "POST", {"name": "sample-tea"}, None, 200),
        ("/api/timeseries/update-all-values", "POST", {}, None, 200),
        ("/api/timeseries/{name}", "DELETE", {"name": "sample-tea"}, None, 409),
        ("/api/model-config/{name}", "DELETE", {"name": "lgbm-small"}, None, 409),
        (
            "/api/model",
            "POST",
            {},
            {"name": SAMPLE_MODEL, "ml_config": "x", "data_config": "y", "preprocessing_config": "z"},
            409,
        ),
        ("/models/{name}", "GET", {"name": SAMPLE_MODEL}, None, 200),
        ("/models/{name}", "GET", {"name": "no-such-model"}, None, 404),
        ("/readyz", "GET", {}, None, 200),
        ("/metrics", "GET", {}, None, 200),
    ],
)
def test_real_objects_answer_as_documented(app: Flask, auth, path, method, parameters, body, status):
    """Fuzzed names are mostly unknown (404): these reach the real sample objects."""
    kwargs = {} if body is None else {"body": body, "media_type": "application/json"}
    case = schema[path][method].Case(path_parameters=parameters, **kwargs)
    response = case.call_and_validate(app=app, headers=auth, checks=CHECKS)
    assert response.status_code == status, response.text


def test_download_failures_answer_502_as_documented(app_for, app: Flask, auth, tmp_path: Path):
    """A source that fails: 502 on create, and 502 with the per-series outcomes on a refresh."""
    engine = make_engine(app.extensions["forecasting"]["settings"].database_url)
    app = app_for(engine, csv_roots=str(tmp_path))
    csv = tmp_path / "trend.csv"
    csv.write_text("not a trends export\n")
    create = schema["/api/timeseries"]["POST"].Case(
        body={"name": "from-csv", "source": "csv", "params": {"path": str(csv)}},
        media_type="application/json",
    )
    assert create.call_and_validate(app=app, headers=auth, checks=CONFORMANCE).status_code == 502
    csv.write_text("time,value\n2026-11-08,40\n2026-11-15,55\n")
    assert create.call_and_validate(app=app, headers=auth, checks=CONFORMANCE).status_code == 201
    csv.unlink()
    refresh = schema["/api/timeseries/{name}/update-values"]["POST"].Case(
        path_parameters={"name": "from-csv"}
    )
    response = refresh.call_and_validate(app=app, headers=auth, checks=CONFORMANCE)
    assert response.status_code == 502
    assert response.json()["results"][0]["outcome"] == "error"
    engine.dispose()


def test_uploads_answer_as_documented(app: Flask, auth):
    """The first upload creates the series (201), the next stores into it (200); a sample series: 409."""
    upload = schema["/api/timeseries/{name}/upload"]["POST"]
    body = "time,value\n2026-11-08,40\n2026-11-15,55\n"
    for name, status in [("uploaded-clicks", 201), ("uploaded-clicks", 200), ("sample-tea", 409)]:
        case = upload.Case(path_parameters={"name": name}, body=body, media_type="text/csv")
        response = case.call_and_validate(app=app, headers=auth, checks=CHECKS)
        assert response.status_code == status, response.text


@pytest.mark.parametrize("path", ["/api/model-config", "/api/timeseries/update-all-values"])
def test_oversize_bodies_answer_413_as_documented(app_for, app: Flask, auth, path: str):
    engine = make_engine(app.extensions["forecasting"]["settings"].database_url)
    small = app_for(engine, max_body_bytes=64)
    case = schema[path]["POST"].Case(body={"name": "x" * 100, "params": {}}, media_type="application/json")
    assert case.call_and_validate(app=small, headers=auth, checks=CHECKS).status_code == 413
    engine.dispose()


def test_a_running_training_answers_409_as_documented(app: Flask, auth):
    """While another process holds the model's training claim: 409 with its version and start."""
    engine = make_engine(app.extensions["forecasting"]["settings"].database_url)
    case = schema["/api/model/{name}/train"]["POST"].Case(
        path_parameters={"name": SAMPLE_MODEL}, body={"windows": 0}, media_type="application/json"
    )
    with training(engine, SAMPLE_MODEL) as claim:
        response = case.call_and_validate(app=app, headers=auth, checks=CHECKS)
    engine.dispose()
    assert response.status_code == 409, response.text
    assert response.json()["running_version"] == claim.version_id and response.json()["since"]


def test_inline_work_out_of_time_answers_504_as_documented(app_for, app: Flask, auth):
    engine = make_engine(app.extensions["forecasting"]["settings"].database_url)
    hurried = app_for(engine, request_timeout_s=0.2)
    case = schema["/api/model/{name}/train"]["POST"].Case(
        path_parameters={"name": SAMPLE_MODEL}, body={"windows": 13}, media_type="application/json"
    )
    response = case.call_and_validate(app=hurried, headers=auth, checks=CONFORMANCE)
    assert response.status_code == 504, response.text
    engine.dispose()


class FakeAirflow:
    """Stands in for ``requests.request`` in serving.airflow_runs: Airflow's token and DAG-run answers."""

    def __init__(self, status: int = 200):
        self.status = status

    def __call__(self, method: str, url: str, **kwargs):
        response = requests.Response()
        response.status_code = self.status if url.endswith("/dagRuns") else 200
        document = {"access_token": "jwt"} if url.endswith("/auth/token") else {"dag_run_id": "manual__1"}
        response._content = json.dumps(document).encode()
        return response


@pytest.mark.parametrize(
    ("path", "parameters", "body"),
    [
        ("/api/model/{name}/train", {"name": SAMPLE_MODEL}, {"windows": 2}),
        ("/api/timeseries/{name}/update-values", {"name": "sample-tea"}, None),
        ("/api/timeseries/update-all-values", {}, None),
    ],
)
@pytest.mark.parametrize("airflow_status", [200, 500])
def test_airflow_runs_answer_as_documented(
    app_for, app: Flask, auth, monkeypatch, path, parameters, body, airflow_status
):
    """With Airflow configured: 202 with the DAG run, or 502 when Airflow's API fails."""
    monkeypatch.setattr(airflow_runs.requests, "request", FakeAirflow(airflow_status))
    engine = make_engine(app.extensions["forecasting"]["settings"].database_url)
    airflow_app = app_for(engine, airflow_url="http://airflow", airflow_username="u", airflow_password="p")
    kwargs = {} if body is None else {"body": body, "media_type": "application/json"}
    case = schema[path]["POST"].Case(path_parameters=parameters, **kwargs)
    response = case.call_and_validate(app=airflow_app, headers=auth, checks=CONFORMANCE)
    assert response.status_code == (202 if airflow_status == 200 else 502), response.text
    engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        f"/api/model/{SAMPLE_MODEL}/backtest?version={2**63}",
        f"/api/model/{SAMPLE_MODEL}/backtest?version={-(2**64)}",
    ],
)
def test_version_ids_beyond_int64_are_404(app: Flask, url: str):
    response = app.test_client().get(url)
    assert response.status_code == 404, response.text
    assert "no version" in response.get_json()["error"]


GENERATED: Counter[str] = Counter()  # cases run by the fuzz below, per operation
GOOGLE_CALLS: Counter[str] = Counter()  # requests the stand-in answered, per operation


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_to_its_schema(case, app: Flask, auth, google: responses.RequestsMock):
    """Every check of schemathesis: no 5xx; status codes, content types, headers and bodies as
    documented; valid requests accepted (but for the content the domain judges, see CONFIG) and
    invalid ones refused. Counted in GENERATED (the coverage phase's boundaries, then examples)."""
    GENERATED[case.operation.label] += 1
    case.call_and_validate(app=app, headers=auth)
    GOOGLE_CALLS[case.operation.label] = len(google.calls)


def test_the_fuzz_ran_at_least_1000_cases_and_reached_google():
    """After the fuzz above (pytest runs a file in order): the figures the README quotes."""
    fuzzed = {f"{method} {path}" for path, method in _documented() if path != "/openapi.json"}  # not its own
    if not fuzzed <= set(GENERATED):
        pytest.skip("the fuzz ran on part of the document only")
    print(
        f"\nfuzz: {sum(GENERATED.values())} cases over {len(GENERATED)} operations; "
        f"POST /api/timeseries: {GENERATED['POST /api/timeseries']}"
    )
    assert sum(GENERATED.values()) >= 1000
    assert GENERATED["POST /api/timeseries"] >= 50 and GOOGLE_CALLS["POST /api/timeseries"] > 0


def test_csv_series_answer_as_documented(app: Flask, auth, tmp_path: Path):
    """A file in the root: 201; a column its header lacks: 400 (the content judged beyond the schema);
    a path outside the root, or no file there: 404, the same answer."""
    (tmp_path / "csv-root" / "trend.csv").write_text("time,value\n2026-11-08,40\n2026-11-15,55\n")
    create = schema["/api/timeseries"]["POST"]
    for params, status in [
        ({"path": "trend.csv", "column": "clicks"}, 400),
        ({"path": "trend.csv", "less_than_one": "0.25"}, 201),
        ({"path": str(tmp_path / "store.db")}, 404),
        ({"path": "missing.csv"}, 404),
    ]:
        body = {"name": f"csv-{status}", "source": "csv", "params": params}
        case = create.Case(body=body, media_type="application/json")
        response = case.call_and_validate(app=app, headers=auth, checks=CHECKS)
        assert response.status_code == status, response.text


def test_docs_serve_swagger_ui_from_this_service_only(app: Flask):
    """/docs: the UI on /openapi.json, every script, style and icon served here (no CDN)."""
    client = app.test_client()
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "SwaggerUIBundle" in page and '"/openapi.json"' in page
    assert not re.search(r"(?:https?:)?//", page), "the page names another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        served.close()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (f"/api/model/{SAMPLE_MODEL}/train", {"windows": "many"}, "field 'windows' must be int, got 'many'"),
        (
            f"/api/model/{SAMPLE_MODEL}/train",
            {"windows": 105},
            "field 'windows' must be between 0 and 104, got 105",
        ),
        (
            "/api/data-config",
            {"name": "d", "targets": ["sample-tea", 7]},
            "field 'targets[1]' must be str, got 7",
        ),
        ("/api/model", {"name": "m", "data_config": "x"}, "missing field 'ml_config'"),
        (
            f"/api/model/{SAMPLE_MODEL}/backtest?version=first",
            None,
            "query parameter 'version' must be an integer",
        ),
    ],
)
def test_a_typed_input_error_is_400_naming_the_field(app: Flask, auth, path: str, body, message: str):
    client = app.test_client()
    if body is None:
        response = client.get(path)
    else:
        response = client.post(path, json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
