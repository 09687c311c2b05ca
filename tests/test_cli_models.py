"""The ``forecasting`` commands for configs, training and forecasts, end to end on real databases."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample.yaml"
MODEL = "sample-forecast"


def test_apply_refresh_train_predict_and_inspect(run, tmp_path: Path) -> None:
    applied = run("apply", str(EXAMPLE))
    assert applied.exit_code == 0 and "7 of 7 item(s) created or updated" in applied.output
    assert "0 of 7 item(s) created or updated" in run("apply", str(EXAMPLE)).output
    refreshed = json.loads(run("refresh", "--model", MODEL, "--json").stdout)
    assert sorted(r["series"] for r in refreshed) == ["sample-coffee", "sample-flu", "sample-tea"]

    trained = run("train", MODEL, "--windows", "2", "--json")
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)
    assert version["status"] == "ready" and version["backtest"]["windows"] == 2

    forecast = json.loads(run("predict", MODEL, "--json").stdout)
    assert forecast["model_version"] == version["version_id"]
    assert len(forecast["forecasts"]) == 2 * 12
    table = run("predict", MODEL).output
    assert "predicted_delta" in table and "note: synthetic data" in table

    [model] = json.loads(run("models", "--json").stdout)
    assert (model["name"], model["served_version"]) == (MODEL, version["version_id"])
    [listed] = json.loads(run("model-versions", MODEL, "--json").stdout)
    assert listed["served"] and listed["status"] == "ready"

    output = tmp_path / "features.csv"
    written = run("features", MODEL, "--output", str(output))
    assert written.exit_code == 0
    with output.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == version["rows"]
    assert list(rows[0])[:2] == ["time", "series"] and list(rows[0])[-1] == "y"
    assert {"target_lag_0", "target_lag_52", "sample-flu_lag_2", "horizon"} <= set(rows[0])


def test_backtest_prints_the_table_and_registers_nothing(run) -> None:
    run("apply", str(EXAMPLE))
    run("refresh", "--model", MODEL)
    printed = run("backtest", MODEL, "--windows", "2")
    assert printed.exit_code == 0
    lines = printed.stdout.splitlines()
    assert lines[0].split()[:4] == ["horizon", "n", "mae_model", "mae_seasonal_naive"]
    assert [line.split()[0] for line in lines[1:14]] == [*map(str, range(1, 13)), "all"]
    assert "interval_coverage" in lines[0].split()
    assert re.fullmatch(
        r"interval 90% nominal: \d+% of the backtest points fell inside the interval calibrated on the "
        r"other windows",
        lines[14],
    )
    assert json.loads(run("model-versions", MODEL, "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope"], "Error: unknown model: nope"),
        (["predict", MODEL], f"has no ready version yet: run `forecasting train {MODEL}`"),
        (["backtest", MODEL, "--windows", "0"], "--windows must be >= 1"),
        (["apply", "missing.yaml"], "missing.yaml: file not found"),
        (["refresh", "--model", "nope"], "Error: unknown model: nope"),
        (["model-versions", "nope"], "Error: unknown model: nope"),
    ],
)
def test_mistakes_are_one_line_errors(run, args: list[str], message: str) -> None:
    run("apply", str(EXAMPLE))
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_predict_with_supplied_history(run, tmp_path: Path) -> None:
    run("apply", str(EXAMPLE))
    run("refresh", "--model", MODEL)
    assert run("train", MODEL, "--windows", "0").exit_code == 0
    history = tmp_path / "history.csv"
    weeks = [f"2020-01-{d:02d}" for d in (5, 12, 19, 26)]
    history.write_text("series,time,value\n" + "".join(f"sample-tea,{w},{i}\n" for i, w in enumerate(weeks)))
    forecast = json.loads(run("predict", MODEL, "--history", str(history), "--json").stdout)
    assert forecast["data_versions"]["sample-tea"] is None
    assert {f["last_date"] for f in forecast["forecasts"] if f["series"] == "sample-tea"} == {
        "2020-01-26T00:00:00"
    }
    history.write_text("series,time,value\nsample-tea,not a date,1\n")
    bad = run("predict", MODEL, "--history", str(history))
    assert bad.exit_code == 1 and "history has a bad time or value" in bad.output
