"""Gunicorn settings for the service: ``gunicorn -c serving/gunicorn.conf.py 'serving:create_app()'``.

This file runs in the master before any worker is forked, and the app is not
preloaded: every worker imports LightGBM itself, after the environment set here.

In `make up` and docker-compose.yml, nginx (deploy/nginx.conf) stands in front: a thread
here holds its connection until the request is read, so slow clients must wait in nginx.

Environment:
  FORECASTING_BIND      address to listen on (default 127.0.0.1:8000; a container sets 0.0.0.0:8000)
  FORECASTING_WORKERS   worker processes (default: one per CPU core this process may use)
  FORECASTING_THREADS   threads per worker (default 4)
  FORECASTING_REQUEST_TIMEOUT  seconds a request's work may take (default 30; gunicorn's timeout)
  PROMETHEUS_MULTIPROC_DIR  where workers write metric samples (default: a fresh temporary directory)
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile

# One OpenMP thread per worker: the workers already use every core, and LightGBM
# reads this when it is imported, so it must be set before a worker imports it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Workers write metric samples here and /metrics aggregates them (serving/metrics.py).
# Set in the master so that every worker, forked later, inherits it. A directory made
# here is remembered in the environment too: a reload (SIGHUP) runs this file again.
_TEMPORARY_METRICS_DIR = "FORECASTING_TEMPORARY_METRICS_DIR"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="forecasting-metrics-")
    os.environ[_TEMPORARY_METRICS_DIR] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _cores() -> int:
    """CPU cores this process may run on (a container's cpuset, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


bind = [os.environ.get("FORECASTING_BIND") or "127.0.0.1:8000"]
worker_class = "gthread"
workers = int(os.environ.get("FORECASTING_WORKERS") or _cores())
threads = int(os.environ.get("FORECASTING_THREADS") or 4)
# FORECASTING_REQUEST_TIMEOUT (read by serving/settings.py too, with the same default; a test checks
# they agree): a worker silent this long is restarted, and inline train and update-* work stops in time
# to answer within it; nginx waits longer for an answer (proxy_read_timeout).
timeout = math.ceil(float(os.environ.get("FORECASTING_REQUEST_TIMEOUT") or 30))
graceful_timeout = 20  # in-flight requests finish on SIGTERM; a container stop allows 30 s
accesslog = "-"  # stdout; errors and the app's log go to stderr
# Not needed in a container, and its default path is shared by every server of a user.
control_socket_disable = True


def on_starting(server) -> None:
    """Drop samples of a previous run: the directory must hold only this server's workers."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.remove(path)


def child_exit(server, worker) -> None:
    """A dead worker's live gauges must leave the aggregate."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if os.environ.get(_TEMPORARY_METRICS_DIR):
        shutil.rmtree(os.environ[_TEMPORARY_METRICS_DIR], ignore_errors=True)


def worker_exit(server, worker) -> None:
    """A stopping worker lets a background cache check finish and closes its database pool."""
    app = getattr(worker, "wsgi", None)
    if app is not None and "forecasting" in getattr(app, "extensions", {}):
        from serving import close

        close(app)
