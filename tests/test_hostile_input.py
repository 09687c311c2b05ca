"""Hostile and careless input answers a clear 4xx, never a 500, and never an invalid or huge answer."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from werkzeug.routing import IntegerConverter

from forecasting.apply import apply_file
from forecasting.models import MAX_ID
from forecasting.refresh import add_and_download, refresh
from tests.conftest import SAMPLE_MODEL, SAMPLE_YAML


@pytest.fixture
def configured(engine: Engine) -> Engine:
    apply_file(engine, SAMPLE_YAML)
    return engine


# --- ids: 64-bit in the database, anything larger is no id at all ---------------------------------


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
