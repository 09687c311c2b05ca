"""Forecast pages: chart geometry on plain data, and the pages rendered from a real store."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
import yaml
from sqlalchemy import Engine

from forecasting.apply import apply_document, apply_file
from forecasting.refresh import refresh
from forecasting.registry import model_versions, version_record
from forecasting.training import train_model
from serving.charts import PALETTE, ForecastPoint, SeriesData, build_chart
from serving.pages import backtest_rows
from tests.conftest import SAMPLE_MODEL, SAMPLE_YAML
from tests.servers import TcpProxy

START = datetime(2024, 1, 7)


def weekly(values: list[float | None], start: datetime = START) -> list[tuple[datetime, float | None]]:
    return [(start + timedelta(weeks=i), v) for i, v in enumerate(values)]


def coordinates(points: str) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in points.split()]


class Page(HTMLParser):
    """What the tests read from a page: series groups, tables by class, facts, title and links."""

    def __init__(self, text: str):
        super().__init__()
        self.series: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.facts: dict[str, str] = {}
        self.title = ""
        self.error = ""
        self.links: list[str] = []
        self._table: list[list[str]] | None = None
        self._text: list[str] | None = None
        self._text_tag = ""
        self._term = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a":
            self.links.append(found["href"] or "")
        elif tag == "g" and "series" in (found.get("class") or "").split():
            self.series.append(found["data-series"] or "")
        elif tag == "table":
            self._table = self.tables.setdefault(found.get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif self._text is None and (
            tag in ("td", "th", "dt", "dd", "title")
            or (tag == "p" and "error" in (found.get("class") or "").split())
        ):
            self._text, self._text_tag = [], tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == self._text_tag and self._text is not None:
            text = " ".join("".join(self._text).split())
            self._text = None
            if tag == "p":
                self.error = text
            elif tag in ("td", "th") and self._table is not None:
                self._table[-1].append(text)
            elif tag == "dt":
                self._term = text
            elif tag == "dd":
                self.facts[self._term] = text
            elif tag == "title" and not self.title:
                self.title = text

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def rows(self, table: str) -> list[dict[str, str]]:
        header, *body = self.tables[table]
        return [dict(zip(header, row)) for row in body]


# Chart geometry


def test_the_chart_has_one_group_per_series_in_order_with_distinct_colours() -> None:
    chart = build_chart([SeriesData(name, weekly([1.0, 2.0, 3.0])) for name in ("a", "b", "c")])
    assert [s.name for s in chart.series] == ["a", "b", "c"]
    assert [s.colour for s in chart.series] == list(PALETTE[:3])
    assert len({s.legend_y for s in chart.series}) == 3


def test_every_point_lies_inside_the_plot_and_the_view_box() -> None:
    history = weekly([10.0 + 5 * math.sin(i / 4) for i in range(120)])
    last = history[-1][0]
    forecast = [ForecastPoint(last + timedelta(weeks=h), 12.0 + h, 8.0 + h, 30.0 + h) for h in range(1, 13)]
    chart = build_chart([SeriesData("s", history, forecast)], width=800, height=300)
    shape = chart.series[0]
    drawn = coordinates(shape.history) + coordinates(shape.forecast) + coordinates(shape.band)
    assert len(drawn) == 120 + 12 + 24
    assert all(chart.left <= x <= chart.right and chart.top <= y <= chart.bottom for x, y in drawn)
    assert 0 < chart.right <= 800 and chart.bottom < chart.height
    assert chart.view_box == f"0 0 800.0 {chart.height:.1f}"
    assert chart.forecast_start == coordinates(shape.history)[-1][0]


def test_time_runs_left_to_right_and_values_upwards() -> None:
    chart = build_chart([SeriesData("s", weekly([1.0, 5.0, 3.0]))])
    (x0, y0), (x1, y1), (x2, y2) = coordinates(chart.series[0].history)
    assert x0 < x1 < x2
    assert y1 < y2 < y0  # SVG's y grows downwards


def test_missing_values_are_left_out() -> None:
    history = weekly([1.0, None, float("nan"), 4.0, float("inf"), 6.0])
    forecast = [
        ForecastPoint(START + timedelta(weeks=7), 7.0, None, None),
        ForecastPoint(START + timedelta(weeks=8), None, 5.0, 9.0),
        ForecastPoint(START + timedelta(weeks=9), 8.0, 6.0, 10.0),
    ]
    shape = build_chart([SeriesData("s", history, forecast)]).series[0]
    assert len(coordinates(shape.history)) == 3
    assert len(coordinates(shape.forecast)) == 2
    assert len(coordinates(shape.band)) == 4  # upper and lower of the two points with an interval
    assert "nan" not in shape.history + shape.forecast + shape.band
    alone = build_chart([SeriesData("s", history, forecast[2:])]).series[0]
    assert alone.band == ""  # one interval point encloses no area


def test_a_single_point_or_a_flat_series_does_not_divide_by_zero() -> None:
    for series in ([SeriesData("one", weekly([5.0]))], [SeriesData("flat", weekly([3.0] * 10))]):
        chart = build_chart(series)
        drawn = coordinates(chart.series[0].history)
        assert drawn and all(math.isfinite(x) and math.isfinite(y) for x, y in drawn)
        assert all(chart.left <= x <= chart.right and chart.top <= y <= chart.bottom for x, y in drawn)
        assert chart.x_ticks and len(chart.y_ticks) >= 2


def test_a_series_without_values_draws_nothing() -> None:
    chart = build_chart([SeriesData("empty", []), SeriesData("none", weekly([None, None]))])
    assert [s.history for s in chart.series] == ["", ""]
    assert chart.forecast_start is None


def test_ticks_are_round_values_enclosing_the_data_and_month_starts_inside_the_range() -> None:
    history = weekly([12.0, 47.5, 93.0] * 35)  # two years
    chart = build_chart([SeriesData("s", history)])
    labels = [float(t.label) for t in chart.y_ticks]
    assert labels[0] <= 12.0 and labels[-1] >= 93.0 and len(labels) <= 12
    assert len({round(b - a, 9) for a, b in zip(labels, labels[1:])}) == 1
    assert 3 <= len(chart.x_ticks) <= 7  # every six months over two years
    assert all(chart.left <= t.position <= chart.right for t in chart.x_ticks)
    assert [datetime.strptime(t.label, "%b %Y").month for t in chart.x_ticks] == [7, 1, 7, 1]


def test_backtest_rows_put_the_models_mase_beside_the_baselines() -> None:
    metrics = [
        {"horizon": h, "method": m, "n": 4, "mae": mae, "rmse": 0, "smape": 0, "mase": mase}
        for h, m, mae, mase in [
            (1, "model", 2.0, 0.5),
            (1, "last_value", 3.0, 0.9),
            ("all", "model", 2.5, 0.6),
            ("all", "seasonal_naive", 3.5, 0.8),
        ]
    ]
    interval = {"level": 0.9, "halfwidth": {"1": 4.2}, "coverage": {"1": 0.875, "all": 0.9}}
    rows = backtest_rows({"metrics": metrics, "interval": interval})
    assert rows == [
        {
            "horizon": 1,
            "n": 4,
            "model": 0.5,
            "seasonal_naive": None,
            "last_value": 0.9,
            "mae": 2.0,
            "halfwidth": 4.2,
            "coverage": 0.875,
        },
        {
            "horizon": "all",
            "n": 4,
            "model": 0.6,
            "seasonal_naive": 0.8,
            "last_value": None,
            "mae": 2.5,
            "halfwidth": None,
            "coverage": 0.9,
        },
    ]
    assert backtest_rows({}) == []


# Pages on a real store


def test_the_model_page_shows_each_target_the_served_version_its_backtest_and_the_lineage(
    served: Engine, app_for
) -> None:
    train_model(served, SAMPLE_MODEL, windows=2)  # a second version, now the served one
    client = app_for(served).test_client()
    response = client.get(f"/models/{SAMPLE_MODEL}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = Page(response.text)
    with served.connect() as conn:
        versions = model_versions(conn, SAMPLE_MODEL)
    newest = versions[0]

    assert page.title == f"{SAMPLE_MODEL} · Forecasting"
    assert page.series == ["sample-coffee", "sample-tea"]
    assert page.facts["Served version"].startswith(f"{newest['id']} ")
    assert page.facts["Backtest MASE"] == f"{newest['mase']:.3f}"

    predicted = client.get(f"/api/model/{SAMPLE_MODEL}/predict").get_json()["forecasts"]
    forecast = page.rows("forecast")
    assert [(r["Series"], r["Horizon"], r["Forecast"]) for r in forecast] == [
        (f["series"], str(f["horizon"]), f"{f['prediction']:.2f}") for f in predicted
    ]

    backtest = page.rows("backtest")
    assert [r["Horizon"] for r in backtest] == [str(h) for h in range(1, 13)] + ["all"]
    assert backtest[-1]["MASE model"] == f"{newest['mase']:.3f}"
    assert all(r["MASE last value"] != "–" for r in backtest)
    coverage = newest_backtest(served)["interval"]["coverage"]
    assert [r["Coverage (nominal 90%)"] for r in backtest] == [
        f"{coverage[str(h)]:.0%}" for h in [*range(1, 13), "all"]
    ]

    lineage = page.rows("versions")
    assert [(r["Version"], r["Status"], r["Served"]) for r in lineage] == [
        (str(newest["id"]), "ready", "served"),
        (str(versions[1]["id"]), "ready", ""),
    ]
    assert lineage[0]["Data versions"] == "sample-coffee v1, sample-flu v3, sample-tea v2"


def newest_backtest(engine: Engine) -> dict:
    with engine.connect() as conn:
        return version_record(conn, SAMPLE_MODEL)["meta"]["backtest"]


def test_a_version_trained_without_backtest_shows_no_interval_and_no_mase(served: Engine, app_for) -> None:
    train_model(served, SAMPLE_MODEL, windows=0)
    response = app_for(served).test_client().get(f"/models/{SAMPLE_MODEL}")
    assert response.status_code == 200
    page = Page(response.text)
    assert page.series == ["sample-coffee", "sample-tea"]
    assert 'class="band"' not in response.text
    assert page.facts["Backtest MASE"] == "–"
    assert "No backtest was recorded" in response.text and "backtest" not in page.tables
    assert {(r["Lower"], r["Upper"]) for r in page.rows("forecast")} == {("–", "–")}


def test_the_index_lists_every_model_with_its_served_version_and_mase(served: Engine, app_for) -> None:
    apply_document(
        served,
        {"models": [{"name": "untrained", "ml_config": "lgbm-small", "data_config": "sample-panel",
                     "preprocessing_config": "weekly-12"}]},
    )  # fmt: skip
    response = app_for(served).test_client().get("/")
    assert response.status_code == 200
    page = Page(response.text)
    with served.connect() as conn:
        mase = model_versions(conn, SAMPLE_MODEL)[0]["mase"]
    rows = {r["Model"]: r for r in page.rows("models")}
    assert set(rows) == {SAMPLE_MODEL, "untrained"}
    assert (rows[SAMPLE_MODEL]["Served version"], rows[SAMPLE_MODEL]["Backtest MASE"]) == ("1", f"{mase:.3f}")
    assert (rows["untrained"]["Served version"], rows["untrained"]["Backtest MASE"]) == ("none yet", "–")
    assert f'href="/models/{SAMPLE_MODEL}"' in response.text
    assert 'href="/api/model"' in response.text and 'href="/openapi.json"' in response.text
    assert 'href="/docs"' in response.text  # the API page, for a reader of the index


def test_an_empty_index_says_how_to_create_a_model(engine: Engine, app_for) -> None:
    response = app_for(engine).test_client().get("/")
    assert response.status_code == 200
    assert "No models yet" in response.text and "forecasting apply examples/sample.yaml" in response.text
    assert "models" not in Page(response.text).tables


def error_page(response, status: int) -> Page:
    """An error answered as an HTML page: the status, and the page's parsed text."""
    assert response.status_code == status, response.text
    assert response.mimetype == "text/html"
    page = Page(response.text)
    assert page.title.startswith(f"{status} ")
    assert "/" in page.links  # back to the index
    return page


def test_unknown_and_untrained_models_answer_an_html_404_with_the_api_message(
    engine: Engine, app_for
) -> None:
    apply_file(engine, SAMPLE_YAML)
    client = app_for(engine).test_client()
    for name in ("<b>nope&", SAMPLE_MODEL):
        api = client.get(f"/api/model/{name}/predict")
        assert (api.status_code, api.mimetype) == (404, "application/json")
        response = client.get(f"/models/{name}")
        page = error_page(response, 404)
        assert page.error == api.get_json()["error"]
        assert "<b>" not in response.text
    assert "no ready version" in page.error and f"forecasting train {SAMPLE_MODEL}" in page.error


def test_without_the_database_pages_answer_an_html_503_and_the_api_json(pg_engine: Engine, app_for) -> None:
    proxy = TcpProxy((pg_engine.url.host or "127.0.0.1", pg_engine.url.port or 5432)).start()
    try:
        behind = pg_engine.url.set(port=proxy.port).render_as_string(hide_password=False)
        client = app_for(pg_engine, database_url=behind).test_client()
        assert client.get("/").status_code == 200
    finally:
        proxy.stop()
    api = client.get("/api/model")
    assert (api.status_code, api.mimetype) == (503, "application/json")
    assert api.get_json()["error"] == "database unavailable"  # an open route never names the host
    for path in ("/", f"/models/{SAMPLE_MODEL}", "/readyz"):
        response = client.get(path)
        assert str(proxy.port) not in response.text and "127.0.0.1" not in response.text
        if path != "/readyz":
            assert error_page(response, 503).error == "database unavailable"


@pytest.fixture
def hostile(engine: Engine) -> tuple[Engine, str, str]:
    """The sample model with a target and the model itself named with HTML's special characters."""
    target, model = """<b>"tea" & 'co'<b>""", """m&m's <"model">"""  # no "/": a name never holds one
    document = yaml.safe_load(SAMPLE_YAML.read_text())
    document["series"][1]["name"] = target
    document["data_configs"][0]["targets"] = ["sample-coffee", target]
    document["models"][0]["name"] = model
    apply_document(engine, document)
    refresh(engine)
    train_model(engine, model, windows=1)
    return engine, model, target


def test_names_are_escaped_everywhere(hostile: tuple[Engine, str, str], app_for) -> None:
    engine, model, target = hostile
    client = app_for(engine).test_client()
    index = client.get("/")
    assert {r["Model"] for r in Page(index.text).rows("models")} == {model}
    link = next(href for href in Page(index.text).links if href.startswith("/models/"))
    response = client.get(link)
    assert response.status_code == 200
    text = response.text
    for raw in (target, model, "<b>", '<"model">'):
        assert raw not in text and raw not in index.text
    assert "&lt;b&gt;&#34;tea&#34; &amp; &#39;co&#39;&lt;b&gt;" in text
    page = Page(text)
    assert page.series == [target, "sample-coffee"]  # parsed back from the escaped attributes
    assert page.title == f"{model} · Forecasting"
    assert {r["Series"] for r in page.rows("forecast")} == {target, "sample-coffee"}
