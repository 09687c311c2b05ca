"""A time by which work must be done: inline work in a request, which a client is waiting for.

The domain checks it where waiting or working longer could pass it (a download's retry
sleep, the next backtest window, the final fit) and stops there with a message that
says what to do instead: the caller's ``advice`` (the service's: run it through Airflow).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from forecasting.errors import ForecastingError


class DeadlineExceeded(ForecastingError):
    """Work was stopped because it would not finish within the time it was given."""


class Deadline:
    """``seconds`` from now, by ``clock``; ``advice`` ends every message about it."""

    def __init__(self, seconds: float, advice: str, *, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.advice = advice
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return self._at - self._clock()

    def allows(self, seconds: float) -> bool:
        """Whether ``seconds`` more of work (or of waiting) end before the deadline."""
        return seconds <= self.remaining()

    def explain(self, work: str, seconds: float) -> str:
        """Why ``work``, expected to take ``seconds``, is not done; with the advice."""
        left = max(0.0, self.remaining())
        return (
            f"{work} would take about {seconds:.0f} s, and {left:.0f} s are left of the {self.seconds:g} s "
            f"this work may take; {self.advice}"
        )

    def require(self, work: str, seconds: float = 0.0) -> None:
        """Raise :class:`DeadlineExceeded` unless ``work`` of ``seconds`` ends in time."""
        if not self.allows(seconds):
            raise DeadlineExceeded(self.explain(work, seconds))
