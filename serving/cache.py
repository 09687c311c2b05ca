"""Forecasts held per worker, reloaded in the background when the database moves on.

A worker holds, per model, the served version's booster and the forecast it gives
on the current data, keyed by the model version and the data state
(:class:`forecasting.inference.ForecastKey`). Requests are answered from what is
held; once the entry is older than the TTL, the next request starts a check in a
background thread (stale-while-revalidate), so a new model version or new data is
served within the TTL plus the load time, and never makes a request wait.

A new version is parsed in a child process first (:func:`forecasting.inference.load_served`):
one that fails to load never replaces the version being served; it is marked
``failed`` in the database, so every worker, the CLI and the listings move past it
together, and this worker remembers it for /readyz.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import lightgbm
import pandas as pd
from sqlalchemy import Engine

from forecasting.dataset import load_dataset, supplied_dataset
from forecasting.errors import NotFound
from forecasting.inference import ForecastKey, compute_forecast, forecast_key, load_served, version_data
from forecasting.registry import ServedVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    """What a worker serves for one model."""

    key: ForecastKey  # the database's key when last checked
    version: ServedVersion  # the version served: the key's, unless that one failed to load
    booster: lightgbm.Booster
    document: dict[str, Any]
    body: bytes  # ``document`` as JSON, encoded once
    checked_at: float  # time.monotonic() of the last check against the database


def _age(held: Held) -> float | None:
    """Seconds since ``held`` was checked against the database; None when a check is due now."""
    age = time.monotonic() - held.checked_at
    return round(age, 3) if math.isfinite(age) else None


class ForecastCache:
    """Per-process cache of boosters and forecasts; thread-safe for gthread workers."""

    def __init__(
        self,
        engine: Engine,
        ttl_s: float,
        *,
        on_served: Callable[[str, int], None] | None = None,
    ):
        self.engine = engine
        self.ttl_s = ttl_s
        self._on_served = on_served
        self._held: dict[str, Held] = {}
        self._failed: dict[tuple[str, int], str] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._checking: set[str] = set()
        self._guard = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    def get(self, model: str) -> Held:
        """The held forecast of ``model``; the first request of a worker loads it."""
        held = self._held.get(model)
        if held is None:
            with self._lock_for(model):
                held = self._held.get(model) or self._load(model, None)
        elif time.monotonic() - held.checked_at >= self.ttl_s:
            self._check_later(model)
        return held

    def what_if(self, model: str, history: pd.DataFrame) -> dict[str, Any]:
        """A forecast on supplied history with the held booster (computed, never cached)."""
        held = self.get(model)
        with self.engine.connect() as conn:
            data = load_dataset(conn, held.version.data_config_id)
        data = supplied_dataset(data, history)
        return compute_forecast(held.booster, held.version, version_data(held.version, data))

    def expire(self, model: str) -> None:
        """Check ``model`` against the database on its next request (this worker trained it)."""
        held = self._held.get(model)
        if held is not None:
            self._held[model] = replace(held, checked_at=float("-inf"))

    def close(self) -> None:
        """Wait for a background check still running; used when a worker or a test ends."""
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def status(self) -> dict[str, Any]:
        """What this worker serves and which versions it refused, for /readyz."""
        return {
            "pid": os.getpid(),
            "held": {
                model: {
                    "model_version": held.version.version_id,
                    "newest_ready_version": held.key.version_id,
                    "forecast_from": max((f["last_date"] for f in held.document["forecasts"]), default=None),
                    "age_s": _age(held),
                }
                for model, held in sorted(self._held.items())
            },
            "refused_versions": [
                {"model": model, "version": version, "reason": reason}
                for (model, version), reason in sorted(self._failed.items())
            ],
        }

    def _lock_for(self, model: str) -> threading.Lock:
        with self._guard:
            return self._loading.setdefault(model, threading.Lock())

    def _check_later(self, model: str) -> None:
        with self._guard:
            if model in self._checking:
                return
            self._checking.add(model)
            if self._executor is None or self._pid != os.getpid():  # a forked worker needs its own thread
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-cache")
                self._pid = os.getpid()
            self._executor.submit(self._check, model)

    def _check(self, model: str) -> None:
        try:
            with self._lock_for(model):
                self._load(model, self._held.get(model))
        except NotFound:
            self._held.pop(model, None)  # the model or its last ready version is gone
        except Exception:
            log.exception("checking model %r failed; still serving what is held", model)
            held = self._held.get(model)
            if held is not None:  # try again after another TTL, not on every request
                self._held[model] = replace(held, checked_at=time.monotonic())
        finally:
            with self._guard:
                self._checking.discard(model)

    def _refuse(self, model: str, version_id: int, reason: str) -> None:
        self._failed[(model, version_id)] = reason
        log.error("model %r version %s does not load, marked failed: %s", model, version_id, reason)

    def _load(self, model: str, held: Held | None) -> Held:
        """Compare the database's key with ``held``'s; load and compute only what changed."""
        started = time.monotonic()
        with self.engine.connect() as conn:
            key = forecast_key(conn, model)
        if held is not None and key == held.key:
            fresh = replace(held, checked_at=started)
            self._held[model] = fresh
            return fresh
        loaded = load_served(
            self.engine,
            model,
            refused={version for (name, version) in self._failed if name == model},
            held=(held.version, held.booster) if held is not None else None,
            on_refused=lambda version_id, reason: self._refuse(model, version_id, reason),
        )
        version, booster = loaded.version, loaded.booster
        if version.version_id != key.version_id:  # the key's version was refused (and marked) meanwhile
            with self.engine.connect() as conn:
                key = forecast_key(conn, model)
        document = compute_forecast(booster, version, version_data(version, loaded.data))
        fresh = Held(key, version, booster, document, json.dumps(document, allow_nan=False).encode(), started)
        self._held[model] = fresh
        if self._on_served:
            self._on_served(model, version.version_id)
        log.info(
            "model %r: serving version %s on data versions %s",
            model,
            version.version_id,
            document["data_versions"],
        )
        return fresh
