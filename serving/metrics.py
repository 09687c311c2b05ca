"""Prometheus metrics: request latency by route, and the model version each model serves.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``serving/gunicorn.conf.py``)
makes every worker write its samples to files that ``/metrics`` aggregates, so a
scrape sees the whole server, not one worker.
"""

from __future__ import annotations

import os
import time

from flask import Flask, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "forecasting_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.served = Gauge(
            "forecasting_served_model_version",
            "Model version a worker serves, per model.",
            ["model"],
            multiprocess_mode="livemostrecent",
            registry=self.registry,
        )

    def served_version(self, model: str, version_id: int) -> None:
        self.served.labels(model=model).set(version_id)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def register(self, app: Flask) -> None:
        @app.before_request
        def _start() -> None:
            g.started = time.perf_counter()

        @app.after_request
        def _observe(response):
            started = g.pop("started", None)
            if started is not None:
                route = request.url_rule.rule if request.url_rule else "unmatched"
                self.latency.labels(request.method, route, str(response.status_code)).observe(
                    time.perf_counter() - started
                )
            return response
