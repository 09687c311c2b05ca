"""The CLI starts fast: what ``forecasting --help`` and ``series list`` import, in a fresh interpreter.

Importing LightGBM (with scikit-learn and SciPy) and pandas took most of the 5-10 s
that every command spent starting on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.db import make_engine
from forecasting.migrate import upgrade

# Runs the CLI as the console script does and writes the top-level packages loaded by then.
PROBE = """
import atexit, json, sys
out, args = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted({m.partition(".")[0] for m in sys.modules}))))
from forecasting.cli import main
sys.argv = ["forecasting", *args]
main()
"""


def loaded(tmp_path: Path, *args: str) -> set[str]:
    """The top-level packages the command ``forecasting ARGS`` imported; it must succeed."""
    out = tmp_path / "modules.json"
    env = {**os.environ, "FORECASTING_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


@pytest.mark.parametrize("args", [["--help"], ["series", "--help"]])
def test_help_imports_neither_lightgbm_nor_sklearn_nor_pandas_nor_sqlalchemy(
    tmp_path: Path, args: list[str]
) -> None:
    assert loaded(tmp_path, *args) & {"lightgbm", "sklearn", "pandas", "sqlalchemy"} == set()


@pytest.mark.parametrize("args", [["series", "list"], ["models"]])
def test_listings_import_no_lightgbm(tmp_path: Path, args: list[str]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    engine.dispose()
    modules = loaded(tmp_path, *args)
    assert "sqlalchemy" in modules  # the probe saw the command run
    assert modules & {"lightgbm", "sklearn"} == set()
