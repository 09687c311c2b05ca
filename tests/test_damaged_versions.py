"""A ready version whose artifact is damaged after registration: every reader moves past it together."""

from __future__ import annotations

import json
import subprocess

from sqlalchemy import Engine, update

from forecasting.db import writing
from forecasting.models import MLModelVersion
from forecasting.registry import model_versions
from tests.conftest import SAMPLE_MODEL
from tests.servers import run_cli
from tests.store_checks import add_corrupt_version


def cli(engine: Engine, *args: str) -> subprocess.CompletedProcess:
    return run_cli(engine.url.render_as_string(hide_password=False), *args)


def test_cli_predict_forecasts_with_the_newest_version_that_loads_and_marks_the_damaged_one(served):
    with served.connect() as conn:
        [good] = [v["id"] for v in model_versions(conn, SAMPLE_MODEL)]
    damaged = add_corrupt_version(served)

    predicted = cli(served, "predict", SAMPLE_MODEL, "--json")

    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["model_version"] == good
    with served.connect() as conn:
        statuses = {
            v["id"]: (v["status"], v["served"], v["reason"]) for v in model_versions(conn, SAMPLE_MODEL)
        }
    assert statuses[good] == ("ready", True, None)
    assert statuses[damaged][:2] == ("failed", False)
    assert statuses[damaged][2].startswith("found unloadable: stored artifact does not load")
    listed = cli(served, "models", "--json")
    assert [m["served_version"] for m in json.loads(listed.stdout)] == [good]


def test_cli_predict_with_only_a_damaged_version_exits_1_with_one_line_and_no_abort(served):
    with writing(served) as conn:
        conn.execute(update(MLModelVersion).values(status="failed"))
    damaged = add_corrupt_version(served)

    predicted = cli(served, "predict", SAMPLE_MODEL)

    assert predicted.returncode == 1, predicted.stderr  # LightGBM's abort was 134
    assert "Traceback" not in predicted.stderr and "terminate called" not in predicted.stderr
    assert f"its newest, version {damaged}, is failed (found unloadable" in predicted.stderr
