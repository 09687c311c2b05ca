"""A training killed part way leaves no version in ``training``: CLI, serving worker, older releases."""

from __future__ import annotations

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
from forecasting.registry import model_versions
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


def test_a_train_killed_during_registration_leaves_no_version_in_training(served: Engine) -> None:
    before = statuses(served)
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

    assert statuses(served) == before
    retrained = run_cli(url, "train", SAMPLE_MODEL, "--windows", "0")
    assert retrained.returncode == 0
    assert "training" not in statuses(served).values()


@pytest.mark.postgres
def test_a_serving_worker_killed_during_post_train_leaves_no_version_in_training(pg_engine: Engine) -> None:
    store = serve_sample(pg_engine, windows=0)
    before = statuses(store)
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
        time.sleep(1)  # Postgres notices the dropped connection and rolls its transaction back

        assert statuses(store) == before
        assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200  # a new worker serves


def _post_train(url: str) -> None:
    try:
        requests.post(
            f"{url}/api/model/{SAMPLE_MODEL}/train",
            json={"windows": 0},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=120,
        )
    except requests.RequestException:
        pass  # the worker was killed under it


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
