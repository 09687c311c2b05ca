"""Shared fixtures: the recorded data beside the repository and the databases under test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FORECASTING_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recorded data of ../shared/data; tests needing it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recorded data not found at {SHARED_DATA} (../shared is absent)")
    return SHARED_DATA
