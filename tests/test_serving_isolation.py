"""The service runs without Airflow: nothing it imports pulls Airflow in, and its pins match the stack's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r")):
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def test_the_service_app_builds_without_importing_airflow(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from serving import create_app\n"
        "from serving.settings import Settings\n"
        f"app = create_app(Settings(database_url='sqlite:///{tmp_path / 'store.db'}'))\n"
        "assert app.test_client().get('/healthz').status_code == 200\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_serving_requirements_pin_the_same_versions_as_the_stack_and_no_airflow() -> None:
    serving = _pins(REPO / "requirements-serving.txt")
    stack = _pins(REPO / "requirements.txt")
    assert not [name for name in serving if "airflow" in name]
    assert {name: stack.get(name) for name in serving} == serving
    assert {"flask", "gunicorn", "prometheus-client", "lightgbm", "sqlalchemy"} <= set(serving)
