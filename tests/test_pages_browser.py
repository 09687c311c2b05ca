"""The forecast page in a real headless Chromium: it renders and draws one series per target.

Runs on SQLite only: the page's database reads are covered on both backends by test_pages.
Skips where Debian's chromium or chromedriver is absent, unless FORECASTING_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from forecasting.db import make_engine
from forecasting.migrate import upgrade
from tests.conftest import SAMPLE_MODEL, serve_sample

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_BROWSER = os.environ.get("FORECASTING_REQUIRE_BROWSER") == "1"
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        message = (
            f"headless browser test needs {' and '.join(missing)} (Debian: apt-get install chromium-driver)"
        )
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    options = Options()
    for argument in CHROME_ARGS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live_url(tmp_path: Path, app_for) -> Iterator[str]:
    """The app with the sample model trained, served on a loopback port in a thread."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    server = make_server("127.0.0.1", 0, app_for(serve_sample(engine)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


def test_the_forecast_page_renders_one_chart_series_per_target(
    browser: webdriver.Chrome, live_url: str, tmp_path: Path
) -> None:
    browser.get(f"{live_url}/")
    browser.find_element(By.LINK_TEXT, SAMPLE_MODEL).click()
    assert browser.current_url == f"{live_url}/models/{SAMPLE_MODEL}"
    assert browser.title == f"{SAMPLE_MODEL} · Forecasting"

    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    assert chart.is_displayed()
    assert chart.size["width"] > 300 and chart.size["height"] > 150
    groups = browser.find_elements(By.CSS_SELECTOR, "svg g.series")
    assert [g.get_attribute("data-series") for g in groups] == ["sample-coffee", "sample-tea"]
    for group in groups:
        history = group.find_element(By.CSS_SELECTOR, "polyline.history")
        assert history.size["width"] > 100  # the line is laid out, not collapsed to a point
        assert group.find_element(By.CSS_SELECTOR, "polygon.band").is_displayed()

    screenshot = tmp_path / "model-page.png"
    assert browser.save_screenshot(str(screenshot))
    content = screenshot.read_bytes()
    assert content.startswith(PNG_SIGNATURE) and len(content) > 10_000
