"""A training killed part way never blocks its model: the next training marks its version failed.

One training per model at a time holds for the CLI as for the service; versions an
older release left in ``training`` are marked failed by migration 0002.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, insert, select

from forecasting import migrate
from forecasting.db import make_engine, writing
from forecasting.models import MLModelVersion
from forecasting.registry import ORPHANED, model_versions, training
from tests.conftest import API_TOKEN, SAMPLE_MODEL, serve_sample
from tests.servers import FORECASTING, child_pids, gunicorn_server, run_cli

CHECK_MODULE = b"forecasting.artifact_check"


def checking(pid: int) -> int | None:
    """The child of ``pid`` that is parsing a new artifact (registration's check), if any."""
    for child in child_pids(pid):
        try:
            if CHECK_MODULE in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


def wait_for(condition: Callable[[], int | None], timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("the condition never held")


def statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {v["id"]: v["status"] for v in model_versions(conn, SAMPLE_MODEL)}


def test_a_train_killed_part_way_never_blocks_the_model(served: Engine) -> None:
    url = served.url.render_as_string(hide_password=False)
    train = subprocess.Popen(
        [FORECASTING, "--database-url", url, "train", SAMPLE_MODEL, "--windows", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: checking(train.pid))
    finally:
        os.killpg(train.pid, signal.SIGKILL)
        train.wait()
    [killed] = [version for version, status in statuses(served).items() if status == "training"]

    retrained = run_cli(url, "train", SAMPLE_MODEL, "--windows", "0", "--json")

    assert retrained.returncode == 0, retrained.stderr
    with served.connect() as conn:
        versions = {v["id"]: v for v in model_versions(conn, SAMPLE_MODEL)}
    assert (versions[killed]["status"], versions[killed]["reason"]) == ("failed", ORPHANED)
    assert versions[json.loads(retrained.stdout)["version_id"]]["status"] == "ready"
    assert "training" not in statuses(served).values()


def test_a_train_while_another_process_trains_the_model_fails_naming_it(served: Engine) -> None:
    url = served.url.render_as_string(hide_password=False)
    with training(served, SAMPLE_MODEL) as running:
        refused = run_cli(url, "train", SAMPLE_MODEL, "--windows", "0")
        assert statuses(served)[running.version_id] == "training"
    since = f"{running.started_at:%Y-%m-%d %H:%M:%S} UTC"

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"Error: model '{SAMPLE_MODEL}' is already being trained "
        f"(version {running.version_id}, since {since}); one training per model at a time: wait for it "
        f"to finish (`forecasting model-versions {SAMPLE_MODEL}` shows its status)"
    )
    assert running.version_id not in statuses(served)  # ended without registering: its row is gone
    assert run_cli(url, "train", SAMPLE_MODEL, "--windows", "0").returncode == 0


@pytest.mark.postgres
def test_a_serving_worker_killed_during_post_train_never_blocks_the_model(pg_engine: Engine) -> None:
    store = serve_sample(pg_engine, windows=0)
    with gunicorn_server(store.url.render_as_string(hide_password=False), workers=2) as server:
        posted = threading.Thread(
            target=lambda: _post_train(server.url),
            daemon=True,
        )
        posted.start()
        worker = wait_for(lambda: next((w for w in server.worker_pids() if checking(w)), None))
        child = checking(worker)
        os.kill(worker, signal.SIGKILL)
        if child:
            os.kill(child, signal.SIGKILL)
        posted.join(timeout=60)
        [killed] = [version for version, status in statuses(store).items() if status == "training"]

        retrained = _post_train(server.url)

        assert retrained is not None and retrained.status_code == 201, retrained
        assert statuses(store) == {1: "ready", killed: "failed", retrained.json()["version_id"]: "ready"}


def _post_train(url: str) -> requests.Response | None:
    try:
        return requests.post(
            f"{url}/api/model/{SAMPLE_MODEL}/train",
            json={"windows": 0},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=120,
        )
    except requests.RequestException:
        return None  # the worker was killed under it


def test_the_migration_marks_versions_an_older_release_left_in_training_failed(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0001")
    serve_sample(engine, windows=0)  # the model code writes the current columns, which 0001 has
    with writing(engine) as conn:
        stuck = conn.scalar(
            insert(MLModelVersion)
            .values(model_id=1, status="training", artifact="", meta={"rows": 3})
            .returning(MLModelVersion.id)
        )

    migrate.upgrade(engine)

    with engine.connect() as conn:
        status, meta = conn.execute(
            select(MLModelVersion.status, MLModelVersion.meta).where(MLModelVersion.id == stuck)
        ).one()
    assert status == "failed"
    assert meta == {
        "rows": 3,
        "status_reason": "left in training by an interrupted process (marked by migration 0002)",
    }
    assert statuses(engine)[1] == "ready"
    engine.dispose()
