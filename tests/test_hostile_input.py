"""Hostile and careless input answers a clear 4xx, never a 500, and never an invalid or huge answer.

Every case comes from a probe of the service as an attacker and a careless client would
make it (issue 13): the answers were 500s, 1 MB echoes, invalid JSON or a stored value
that broke every later read.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine, text
from werkzeug.routing import IntegerConverter

from forecasting.apply import apply_document, apply_file
from forecasting.cli import cli
from forecasting.configs import data_config_members, ml_params, preprocessing_params
from forecasting.errors import InvalidInput
from forecasting.inputs import MAX_DEPTH, MAX_VALUES
from forecasting.models import MAX_ID
from forecasting.refresh import add_and_download, refresh
from forecasting.series import ROUTE_WORDS, new_series_spec
from tests.conftest import API_TOKEN, SAMPLE_MODEL, SAMPLE_YAML
from tests.servers import free_port, gunicorn_server

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
EXAMPLE_NAMES = {  # what a ``<name>`` of each path prefix is filled with: an object of the sample
    "/api/timeseries/": "sample-tea",
    "/api/model-config/": "lgbm-small",
    "/api/preprocessing-config/": "weekly-12",
    "/api/data-config/": "sample-panel",
    "/api/model/": SAMPLE_MODEL,
    "/models/": SAMPLE_MODEL,
}


@pytest.fixture
def configured(engine: Engine) -> Engine:
    apply_file(engine, SAMPLE_YAML)
    return engine


def strict_json(body: bytes) -> object:
    """JSON as RFC 8259 defines it: no NaN, no Infinity (Python's parser accepts them)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=refuse)


def get_urls(app: Flask) -> list[str]:
    """Every GET route of the app, its parameters filled with the sample's objects."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.endswith("static"):  # files: no database, no input
            continue
        prefix = next((p for p in EXAMPLE_NAMES if rule.rule.startswith(p)), None)
        url = re.sub(r"<int:[^>]+>", "1", rule.rule)
        url = re.sub(r"<[^>]+>", EXAMPLE_NAMES.get(prefix, ""), url)
        urls.append(url)
    return sorted(urls)


def post(client, url: str, payload=None, *, raw: bytes | str | None = None):
    if raw is not None:
        return client.post(url, data=raw, content_type="application/json", headers=AUTH)
    return client.post(url, json=payload, headers=AUTH)


# --- 1. answers never echo a whole input; open routes never name the database's host ------------

BIG = "x" * 800_000
ANSWER_LIMIT = 2_000  # bytes of an error answer, whatever the size of the input

BIG_BODIES = [
    ("/api/timeseries", {"name": BIG, "source": "sample"}),
    ("/api/timeseries", {"name": [BIG], "source": "sample"}),
    ("/api/timeseries", {"name": "s", "source": BIG}),
    ("/api/timeseries", {"name": "s", "source": "sample", "params": {"periods": BIG}}),
    ("/api/timeseries", {"name": "s", "source": "sample", "params": {BIG: 1}}),
    ("/api/timeseries", {"name": "s", "source": "sample", "params": {f"k{i}": 1 for i in range(50_000)}}),
    ("/api/model-config", {"name": BIG, "params": {}}),
    ("/api/model-config", {"name": "m", "params": {"learning_rate": BIG}}),
    ("/api/model-config", {"name": "m", "params": {BIG: 1}}),
    ("/api/model-config", {"name": "m", "params": [BIG]}),
    ("/api/preprocessing-config", {"name": "p", "params": {"horizon": BIG}}),
    ("/api/preprocessing-config", {"name": "p", "params": {"horizon": 1, "target_lags": [1, 1] * 100_000}}),
    ("/api/preprocessing-config", {"name": "p", "params": {f"k{i}": 1 for i in range(50_000)}}),
    ("/api/data-config", {"name": "d", "targets": [BIG]}),
    ("/api/data-config", {"name": "d", "targets": [f"series-{i}" for i in range(50_000)]}),
    ("/api/data-config", {"name": "d", "targets": ["a"] * 100_000}),
    ("/api/data-config", {"name": "d", "targets": BIG}),
    ("/api/model", {"name": "m", "ml_config": BIG, "data_config": BIG, "preprocessing_config": BIG}),
    (f"/api/model/{SAMPLE_MODEL}/train", {"windows": BIG}),
    (f"/api/model/{SAMPLE_MODEL}/predict", {"history": BIG}),
]


@pytest.mark.parametrize(("url", "payload"), BIG_BODIES)
def test_an_error_answer_quotes_at_most_a_short_part_of_the_input(configured, client, url, payload):
    response = post(client, url, payload)

    assert 400 <= response.status_code < 500, response.text[:300]
    assert len(response.data) < ANSWER_LIMIT, response.text[:300]
    assert response.get_json()["error"]


@pytest.mark.parametrize(
    "check",
    [
        lambda: new_series_spec(BIG, "sample", {}),
        lambda: new_series_spec("s", BIG, {}),
        lambda: new_series_spec("s", "sample", {"periods": BIG}),
        lambda: new_series_spec("s", "sample", {"end": BIG}),
        lambda: new_series_spec("s", "sample", {f"k{i}": 1 for i in range(50_000)}),
        lambda: ml_params({"learning_rate": BIG}, "m"),
        lambda: ml_params({f"k{i}": 1 for i in range(50_000)}, "m"),
        lambda: preprocessing_params({"horizon": [BIG]}, "p"),
        lambda: data_config_members([BIG], [BIG], "d"),
        lambda: data_config_members([f"s{i}" for i in range(50_000)] * 2, [], "d"),
    ],
)
def test_a_domain_message_quotes_at_most_a_short_part_of_the_input(check):
    """The CLI and the DAGs print these messages as they are: the bound is the domain's, not the service's."""
    with pytest.raises(InvalidInput) as error:
        check()
    assert len(str(error.value)) < 500, str(error.value)[:300]


def test_open_routes_never_name_the_database_host_and_503s_say_database_unavailable(app_for, tmp_path):
    port = free_port()  # nothing listens there
    closed = f"postgresql://forecasting:secret@127.0.0.1:{port}/forecasting"
    app = app_for_url(app_for, tmp_path, closed)
    client = app.test_client()
    for url in get_urls(app):
        response = client.get(url)
        assert str(port) not in response.text and "127.0.0.1" not in response.text, url
        assert "secret" not in response.text, url
        if response.status_code == 503:
            message = response.get_json()["error"] if response.is_json else response.text
            assert "database unavailable" in message, url
        else:
            assert url in ("/healthz", "/metrics", "/openapi.json", "/docs"), (url, response.status_code)


def app_for_url(app_for, tmp_path: Path, url: str) -> Flask:
    """An app whose store is at ``url`` (the fixture takes an engine only for its URL)."""
    from forecasting.db import make_engine

    return app_for(make_engine(f"sqlite:///{tmp_path / 'unused.db'}"), database_url=url)


# --- 2. nesting is bounded: JSON bodies and YAML documents -----------------------------------------

BODY_ROUTES = [
    "/api/timeseries",
    "/api/model-config",
    "/api/preprocessing-config",
    "/api/data-config",
    "/api/model",
    f"/api/model/{SAMPLE_MODEL}/train",
    f"/api/model/{SAMPLE_MODEL}/predict",
]


@pytest.mark.parametrize("url", BODY_ROUTES)
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a": ' * 10_000 + "1" + "}" * 10_000,
        '{"name": "m", "params": {"x": ' + "[" * 500 + "]" * 500 + "}}",
    ],
    ids=["arrays-10000", "objects-10000", "params-500"],
)
def test_deeply_nested_json_is_400_on_every_route_with_a_body(configured, client, url, raw):
    response = post(client, url, raw=raw)

    assert response.status_code == 400, response.text[:300]
    assert f"nested more than {MAX_DEPTH} levels" in response.get_json()["error"]


def test_json_nested_within_the_bound_is_read(configured, client):
    nested: object = 1
    for _ in range(MAX_DEPTH - 3):  # the body, params and the key hold it
        nested = [nested]
    response = post(client, "/api/model-config", {"name": "m", "params": {"x": nested}})

    assert response.status_code == 400
    assert "x is not a LightGBM parameter" in response.get_json()["error"]  # read, then refused for its key


@pytest.mark.parametrize("nesting", ["[" * 10_000 + "]" * 10_000, "{a: " * 5_000 + "1" + "}" * 5_000])
def test_a_deeply_nested_yaml_document_is_invalid_input(engine, tmp_path, nesting):
    path = tmp_path / "deep.yaml"
    path.write_text(f"ml_configs:\n  - name: m\n    params: {{x: {nesting}}}\n")

    with pytest.raises(InvalidInput, match=f"nested more than {MAX_DEPTH} levels"):
        apply_file(engine, path)


def test_a_yaml_document_that_expands_through_aliases_is_refused_at_once(engine, tmp_path):
    """A billion laughs: 150 bytes that expand to 10^9 values; the check stops at its bound."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    lines.append("ml_configs: [{name: m, params: {x: *i}}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")

    started = time.monotonic()
    with pytest.raises(InvalidInput, match=f"more than {MAX_VALUES} values"):
        apply_file(engine, path)
    assert time.monotonic() - started < 5


def test_params_nested_beyond_the_bound_are_refused_by_apply(engine):
    nested: object = 1
    for _ in range(MAX_DEPTH + 1):
        nested = {"k": nested}
    document = {"ml_configs": [{"name": "m", "params": {"x": nested}}]}

    with pytest.raises(InvalidInput, match=f"nested more than {MAX_DEPTH} levels"):
        apply_document(engine, document)


# --- 3. ids: 64-bit in the database, anything larger is no id at all ---------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"/api/timeseries/sample-tea/versions/{2**31}/values",
        f"/api/timeseries/sample-tea/versions/{2**63 - 1}/values",
        f"/api/model/{SAMPLE_MODEL}/backtest?version={2**31}",
        f"/api/model/{SAMPLE_MODEL}/backtest?version={2**63 - 1}",
    ],
)
def test_ids_past_32_bits_are_404(configured, client, url):
    response = client.get(url)

    assert response.status_code == 404, response.text
    assert "no version" in response.get_json()["error"]


@pytest.mark.parametrize("version_id", [2**63, 2**64, 10**40])
def test_url_ids_beyond_64_bits_are_404_for_every_route(configured, client, version_id):
    response = client.get(f"/api/timeseries/sample-tea/versions/{version_id}/values")

    assert response.status_code == 404
    assert response.is_json


def test_every_integer_in_a_url_is_bounded_by_the_largest_id(app):
    """One converter for the whole app: a route added later gets the bound without saying so."""
    converters = [c for rule in app.url_map.iter_rules() for c in rule._converters.values()]
    integers = [c for c in converters if isinstance(c, IntegerConverter)]

    assert integers and all(c.max == MAX_ID for c in integers)


def test_a_series_refreshes_with_ids_past_32_bits(pg_engine: Engine):
    with pg_engine.begin() as conn:
        for table in ("timeseries", "ts_version"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {2**40})"))

    created = add_and_download(pg_engine, "far", "sample", {})
    [again] = refresh(pg_engine, ["far"])

    assert created.version_id > 2**40
    assert (again.outcome, again.version_id) == ("unchanged", created.version_id)


# --- 4. NUL and lone surrogates: refused where they enter ----------------------------------------

NUL, SURROGATE = "\x00", "\ud800"


@pytest.mark.parametrize(
    ("url", "raw"),
    [
        ("/api/timeseries", '{"name": "a\\u0000b", "source": "sample"}'),
        ("/api/timeseries", '{"name": "a\\ud800b", "source": "sample"}'),
        ("/api/timeseries", '{"name": "s", "source": "sample", "params": {"end\\u0000": 1}}'),
        ("/api/timeseries", '{"name": "s", "source": "google_trends", "params": {"keyword": "a\\u0000"}}'),
        ("/api/timeseries", '{"name": "s", "source": "google_trends", "params": {"keyword": "\\udfff"}}'),
        ("/api/model-config", '{"name": "m", "params": {"objective": "regression\\u0000"}}'),
        ("/api/model-config", '{"name": "m", "params": {"metric": ["l2", "\\udc80"]}}'),
        ("/api/data-config", '{"name": "d", "targets": ["sample-tea\\u0000"]}'),
        (
            "/api/model",
            '{"name": "m", "ml_config": "\\ud800", "data_config": "x", "preprocessing_config": "y"}',
        ),
        (
            f"/api/model/{SAMPLE_MODEL}/predict",
            '{"history": [{"series": "a\\u0000", "time": 1, "value": 1}]}',
        ),
    ],
)
def test_nul_and_lone_surrogates_in_bodies_are_400(configured, client, url, raw):
    before = listing(client)

    response = post(client, url, raw=raw)

    assert response.status_code == 400, response.text
    assert re.search("NUL character|lone surrogate", response.get_json()["error"])
    assert listing(client) == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/timeseries/a%00b",
        "/api/timeseries/a%00b/versions",
        "/api/model/a%00/predict",
        "/api/model-config/%00",
        "/models/a%00b",
    ],
)
def test_nul_in_a_url_is_400(configured, client, url):
    response = client.get(url)

    assert response.status_code == 400, response.text
    assert "NUL character" in response.text


@pytest.mark.parametrize("url", ["/api/timeseries/a%ED%A0%80b", "/api/timeseries/a%FFb", "/models/%ED%B2%80"])
def test_undecodable_bytes_in_a_url_are_not_a_500(configured, client, url):
    assert client.get(url).status_code in (400, 404)


def listing(client) -> dict[str, int]:
    kinds = ("timeseries", "model-config", "data-config", "preprocessing-config", "model")
    return {kind: len(client.get(f"/api/{kind}").get_json()) for kind in kinds}


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_nul_and_lone_surrogates_are_refused_by_apply(engine, bad):
    for document in (
        {"series": [{"name": f"a{bad}", "source": "sample"}]},
        {"series": [{"name": "a", "source": "google_trends", "params": {"keyword": f"k{bad}"}}]},
        {"ml_configs": [{"name": "m", "params": {"objective": f"l2{bad}"}}]},
        {"ml_configs": [{"name": "m", "params": {f"k{bad}": 1}}]},
    ):
        with pytest.raises(InvalidInput, match="NUL character|lone surrogate"):
            apply_document(engine, document)


def test_a_yaml_file_with_nul_escapes_is_refused(engine, tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_text('series:\n  - name: "a\\0b"\n    source: sample\n')

    with pytest.raises(InvalidInput, match="NUL character"):
        apply_file(engine, path)


def test_the_cli_refuses_a_name_that_is_not_text(engine):
    """Undecodable bytes in argv arrive as lone surrogates (surrogateescape)."""
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["--database-url", url, "series", "add", "a\udcffb", "--source", "sample"]
    )

    assert result.exit_code != 0
    assert "lone surrogate" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["versions", "a\udcffb"],
        ["values", "a\udcffb"],
        ["predict", "m\udcff"],
        ["series", "delete", "\udcff"],
    ],
)
def test_the_cli_refuses_any_argument_that_is_not_text(engine, args):
    """A lookup too, not only a creation: the database would be asked to encode a lone surrogate."""
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--database-url", url, *args])

    assert result.exit_code == 2
    assert "lone surrogate" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- 5. non-finite numbers: refused on the way in, never written on the way out -------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("/api/model-config", '{"name": "m", "params": {"learning_rate": %s}}'),
        ("/api/timeseries", '{"name": "s", "source": "sample", "params": {"periods": %s}}'),
        ("/api/preprocessing-config", '{"name": "p", "params": {"horizon": %s, "target_lags": [1]}}'),
        (f"/api/model/{SAMPLE_MODEL}/train", '{"windows": %s}'),
    ],
)
def test_non_finite_numbers_in_bodies_are_400(configured, client, url, template, number):
    response = post(client, url, raw=template % number)

    assert response.status_code == 400, response.text
    assert "not a finite number" in response.get_json()["error"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_ml_params_refuse_non_finite_numbers_on_every_path(value):
    with pytest.raises(InvalidInput, match="not a finite number"):
        ml_params({"learning_rate": value}, "m")


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", ".NaN"])
def test_yaml_non_finite_numbers_are_refused_by_apply(engine, tmp_path, number):
    path = tmp_path / "inf.yaml"
    path.write_text(f"ml_configs:\n  - name: m\n    params: {{learning_rate: {number}}}\n")

    with pytest.raises(InvalidInput, match="not a finite number"):
        apply_file(engine, path)


def test_the_json_provider_never_writes_nan(app):
    with app.app_context(), pytest.raises(ValueError):
        app.json.dumps({"x": float("nan")})


def test_every_get_answers_strict_json_after_hostile_writes(served, app):
    client = app.test_client()
    client.get(f"/api/model/{SAMPLE_MODEL}/predict")  # the worker holds the model
    hostile = [
        '{"name": "n", "params": {"learning_rate": NaN}}',
        '{"name": "n", "params": {"learning_rate": Infinity, "num_leaves": -Infinity}}',
        '{"name": "n", "params": {"learning_rate": 1e400}}',
        '{"name": "n\\u0000", "params": {}}',
        '{"name": "n", "params": {"metric": "\\ud800"}}',
    ]
    for raw in hostile:
        assert post(client, "/api/model-config", raw=raw).status_code == 400
    trained = post(client, f"/api/model/{SAMPLE_MODEL}/train", {"windows": 0})  # this worker: check due now
    assert trained.status_code == 201

    for url in get_urls(app):
        response = client.get(url)
        assert response.status_code < 500, (url, response.text[:300])
        if response.mimetype == "application/json":
            strict_json(response.data)
    ready = strict_json(client.get("/readyz").data)
    assert ready["worker"]["held"][SAMPLE_MODEL]["age_s"] is None


# --- 6. one rule for names -------------------------------------------------------------------------

UNADDRESSABLE = ["a/b", "/", "100%", "%2F", "a\tb", "a\nb", "bell\x07", "del\x7f", "c1\x85", ".", "..", ""]
SPACED = [" lead", "trail ", "\u00a0nbsp"]
VERBATIM = [
    'it\'s "quoted"',
    "Robert'); DROP TABLE timeseries;--",
    "1 OR 1=1",
    "<img src=x onerror=alert(1)>",
    "&amp; &lt;",
    "two words",
    "日本語の系列",
    "Ωμέγα-σειρά",
    "emoji 🙂",
    "a?b#c",
    "a+b=c&d",
    "back\\slash",
    "...",
    ".hidden",
    "tab-free",
    "x" * 200,
]


def route_words(app: Flask) -> set[str]:
    """Fixed segments where another route of the same prefix takes a name: a name there is unreachable."""
    rules = [rule.rule.strip("/").split("/") for rule in app.url_map.iter_rules()]
    words = set()
    for segments in rules:
        for k, segment in enumerate(segments):
            if segment.startswith("<") and not segment.startswith("<int:"):
                words |= {
                    other[k]
                    for other in rules
                    if len(other) > k and other[:k] == segments[:k] and not other[k].startswith("<")
                }
    return words


def test_the_route_words_of_the_app_are_the_reserved_names_of_the_domain(app):
    words = route_words(app)

    assert "update-all-values" in words
    assert words <= ROUTE_WORDS


@pytest.mark.parametrize("name", [*UNADDRESSABLE, *SPACED, "update-all-values", "x" * 201])
def test_names_a_url_cannot_address_are_refused_on_every_path(configured, client, run, name):
    before = listing(client)
    bodies = {
        "/api/timeseries": {"name": name, "source": "sample"},
        "/api/model-config": {"name": name, "params": {}},
        "/api/preprocessing-config": {"name": name, "params": {"horizon": 1, "target_lags": [1]}},
        "/api/data-config": {"name": name, "targets": ["sample-tea"]},
        "/api/model": {
            "name": name,
            "ml_config": "lgbm-small",
            "data_config": "sample-panel",
            "preprocessing_config": "weekly-12",
        },
    }
    for url, body in bodies.items():
        response = post(client, url, body)
        assert response.status_code == 400, (url, response.text)
        assert "name" in response.get_json()["error"]
    assert listing(client) == before

    if "\x00" not in name:  # argv cannot hold NUL
        result = run("series", "add", name, "--source", "sample")
        assert result.exit_code != 0 and "name" in result.stderr
    with pytest.raises(InvalidInput, match="name"):
        apply_document(configured, {"models": [{**bodies["/api/model"]}]})


@pytest.mark.parametrize("name", VERBATIM)
def test_other_names_are_stored_verbatim_and_round_trip_through_urls(configured, client, name):
    created = post(client, "/api/timeseries", {"name": name, "source": "sample", "params": {"periods": 60}})
    assert created.status_code == 201, created.text
    assert created.get_json()["name"] == name
    segment = quote(name, safe="")

    assert client.get(f"/api/timeseries/{segment}").get_json()["name"] == name
    assert client.get(f"/api/timeseries/{segment}/latest-values").get_json()["series"] == name
    assert name in [s["name"] for s in client.get("/api/timeseries").get_json()]
    for url, body in {
        "/api/model-config": {"name": name, "params": {}},
        "/api/data-config": {"name": name, "targets": [name]},
        "/api/model": {
            "name": name,
            "ml_config": name,
            "data_config": name,
            "preprocessing_config": "weekly-12",
        },
    }.items():
        assert post(client, url, body).status_code == 201, url
        assert client.get(f"{url}/{segment}").get_json()["name"] == name
    index = client.get("/").text
    assert f"/models/{name}" in {
        unquote(html.unescape(href)) for href in re.findall(r'href="([^"]*)"', index)
    }
    if "<" in name or "&" in name:
        assert name not in index  # escaped
    assert client.delete(f"/api/model/{segment}", headers=AUTH).status_code == 204


def test_names_are_stored_verbatim_by_apply_and_the_cli(configured, run):
    for name in VERBATIM[:6]:
        [applied] = apply_document(configured, {"ml_configs": [{"name": name, "params": {}}]})
        assert (applied.name, applied.action) == (name, "created")
        assert run("series", "add", name, "--source", "sample", "--param", "periods=3").exit_code == 0, name
    listed = json.loads(run("series", "list", "--json").stdout)
    assert set(VERBATIM[:6]) <= {s["name"] for s in listed}


# --- 7. what-if history must be weekly, on the model's weeks, within 1900-2200 --------------------


WHAT_IF_CASES = [  # times of a sample-tea history, and what the 400 says
    (["2026-11-01", "2026-11-02", "2026-11-03"], "daily"),
    (["2026-09-01", "2026-10-01", "2026-11-01"], "monthly"),
    (["2026-11-02", "2026-11-09"], "start on Sundays"),  # Mondays: the model's weeks start on Sunday
    (["2026-11-15T12:00:00"], "start on Sundays at 00:00"),
    (["1800-01-05"], "1900-01-01 to 2200-12-31"),
    (["2300-01-04"], "1900-01-01 to 2200-12-31"),
    (["0001-01-07"], "1900-01-01 to 2200-12-31"),
    (["99999-01-01"], "1900-01-01 to 2200-12-31"),
    (["2026-13-45"], "1900-01-01 to 2200-12-31"),
    (["someday"], "bad time or value"),
    ([BIG], "bad time or value"),
    ([1_700_000_000], "not a date text"),
    ([None], "not a date text"),
    (["2026-11-15T00:00:00+02:00"], "without a timezone"),
    (["2026-11-15T00:00:00+02:00", "2026-11-22"], "without a timezone"),
]


def test_what_if_history_must_be_weekly_on_the_models_weeks_and_dated_1900_to_2200(served, client):
    url = f"/api/model/{SAMPLE_MODEL}/predict"
    for times, message in WHAT_IF_CASES:  # one trained store for every case: training is the cost
        history = [{"series": "sample-tea", "time": t, "value": 50.0} for t in times]
        response = post(client, url, {"history": history})
        assert response.status_code == 400, (times, response.text[:300])
        assert message in response.get_json()["error"], times
        assert len(response.data) < ANSWER_LIMIT
    for row in ({"series": BIG, "time": "2026-11-15", "value": 1}, {"series": "sample-tea", "value": BIG}):
        response = post(client, url, {"history": [{"time": "2026-11-15", **row}]})
        assert response.status_code == 400 and len(response.data) < ANSWER_LIMIT, response.text[:300]

    weekly = [{"series": "sample-tea", "time": t, "value": 50.0} for t in ("2026-11-08", "2026-11-15")]
    assert post(client, url, {"history": weekly}).status_code == 200


# --- 8. a chunked body over the limit answers 413 --------------------------------------------------


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory) -> Iterator[str]:
    from forecasting.db import make_engine
    from forecasting.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('chunked') / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    apply_file(engine, SAMPLE_YAML)
    engine.dispose()
    with gunicorn_server(url, workers=1) as server:
        yield server.url


def chunks(size: int, prefix: bytes = b'{"name": "big", "params": {}, "padding": "', suffix: bytes = b'"}'):
    yield prefix
    for _ in range(size // 65_536):
        yield b"x" * 65_536
    yield suffix


@pytest.mark.parametrize("path", ["/api/model-config", "/api/timeseries/update-all-values"])
def test_a_chunked_body_over_the_limit_is_413(sample_server, path):
    response = requests.post(
        sample_server + path,
        data=chunks(2 * 1024 * 1024),  # a generator: requests sends it chunked, without Content-Length
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=60,
    )

    assert response.status_code == 413, response.text[:300]
    assert "at most 1048576" in response.json()["error"]
    assert requests.get(sample_server + "/api/timeseries/sample-tea/versions", timeout=30).json() == []


def test_a_chunked_body_within_the_limit_is_read(sample_server):
    body = json.dumps({"name": "chunked", "params": {"n_estimators": 5}}).encode()
    response = requests.post(
        sample_server + "/api/model-config",
        data=iter([body[:10], body[10:]]),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    assert response.json()["params"] == {"n_estimators": 5}
