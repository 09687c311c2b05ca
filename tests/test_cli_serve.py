"""``forecasting serve``: the development server, started as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from forecasting.cli import cli
from forecasting.db import make_engine
from forecasting.migrate import upgrade
from tests.servers import REPO, free_port, stop_process_group, wait_for_health

# `python -m` in the repository imports `serving` from there, installed or not.
FORECASTING = [sys.executable, "-m", "forecasting"]


def test_serve_answers_on_the_given_port_with_the_given_database(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(store)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {**os.environ, "FORECASTING_DATABASE_URL": f"sqlite:///{tmp_path / 'unmigrated.db'}"}
    server = subprocess.Popen(
        [*FORECASTING, "serve", "--port", str(port), "--database-url", store],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_health(url, server, timeout_s=30)
        except RuntimeError as exc:
            stop_process_group(server)
            raise AssertionError(f"{exc}:\n{server.stderr.read()}") from None
        ready = requests.get(f"{url}/readyz", timeout=10)  # 503 unless --database-url beat the environment
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
    finally:
        stop_process_group(server)
    assert f"Running on {url}" in server.stderr.read()


def test_serve_without_flask_says_what_to_install() -> None:
    probe = (
        "import sys\n"
        "sys.modules['flask'] = None\n"  # makes `import flask` fail as if it were not installed
        "from forecasting.cli import main\n"
        "sys.argv = ['forecasting', 'serve']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the service needs the serving requirements (flask is not installed): "
        "pip install -r requirements-serving.txt"
    ]


def test_serve_help_lists_its_options() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "development server" in result.output
    for option in ("--host", "--port", "--debug", "--database-url"):
        assert option in result.output
    assert "[default: 5000" in result.output
    assert "[default: 127.0.0.1]" in result.output
