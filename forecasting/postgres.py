"""Postgres engines whose every wait on the server is bounded, and that fail fast in an outage.

libpq has no limit on waiting for an answer, and TCP settings only end a connection
whose peer stopped acknowledging: a hung server, or a proxy or load balancer in front
of it that stopped forwarding, still acknowledges. So each connection is a
:class:`BoundedConnection`, which gives up after the limit of
:class:`forecasting.db.DatabaseTimeouts`, and a pooled connection is checked with a
``SELECT 1`` bounded by its ``ping_s`` before use (SQLAlchemy's own pre-ping has no limit).
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError

from forecasting.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from forecasting.db import DatabaseTimeouts

FAIL_FAST_S = 1.0  # how long callers fail at once after the database did not answer


def postgres_engine(url: URL, timeouts: DatabaseTimeouts) -> Engine:
    """An engine whose every wait on the server is bounded by ``timeouts`` (see the module's docstring)."""
    breaker = Breaker(FAIL_FAST_S, timeouts.connect_s + timeouts.ping_s) if timeouts.fail_fast else None
    engine = create_engine(
        url,
        connect_args=_connect_args(url, timeouts),
        pool_timeout=timeouts.connect_s or 30,  # a thread waiting for a pooled connection
    )

    @event.listens_for(engine, "do_connect")
    def connect(_dialect, record, cargs, cparams):
        if breaker:
            breaker.admit()
        try:
            connection = BoundedConnection.connect(*cargs, **cparams)
        except psycopg.OperationalError as exc:
            if breaker:
                breaker.failed(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            raise
        connection.answer_s, connection.breaker = timeouts.answer_s, breaker
        record.info["fresh"] = True
        return connection

    @event.listens_for(engine, "checkout")
    def check(connection: BoundedConnection, record, _proxy) -> None:
        if breaker:
            breaker.admit()
        if not record.info.pop("fresh", False):
            try:
                connection.ping(timeouts.ping_s or None)
            except psycopg.Error as exc:  # gone, or no answer: the pool tries a new connection
                raise (InvalidatePoolError if connection.timed_out else DisconnectionError)(str(exc)) from exc
        if breaker:
            breaker.succeeded()

    return engine


def _connect_args(url: URL, timeouts: DatabaseTimeouts) -> dict[str, Any]:
    """libpq parameters for ``timeouts``; parameters given in the URL win."""
    args: dict[str, Any] = {}
    if timeouts.connect_s:
        args["connect_timeout"] = max(1, math.ceil(timeouts.connect_s))  # libpq: whole seconds, >= 2
    if timeouts.tcp_s:
        tcp = max(6, round(timeouts.tcp_s))
        args |= {
            "keepalives": 1,
            "keepalives_idle": tcp // 3,
            "keepalives_interval": tcp // 6,
            "keepalives_count": 4,
            "tcp_user_timeout": tcp * 1000,
        }
    server = {
        "statement_timeout": timeouts.statement_s,
        "lock_timeout": timeouts.lock_s,
        "idle_in_transaction_session_timeout": timeouts.idle_in_transaction_s,
    }
    options = [f"-c {name}={round(seconds * 1000)}" for name, seconds in server.items() if seconds]
    if isinstance(url.query.get("options"), str):
        options.append(url.query["options"])  # later settings win: the URL's
    if options:
        args["options"] = " ".join(options)
    return {key: value for key, value in args.items() if key == "options" or key not in url.query}


class BoundedConnection(psycopg.Connection):
    """A psycopg connection that stops waiting for a server that does not answer.

    Every wait of psycopg on the server (a statement, a commit, a rollback, a COPY's
    flush) goes through :meth:`wait`; past ``answer_s`` the connection is closed (its
    state is unknown) and the caller gets an ``OperationalError``, which SQLAlchemy
    takes for a disconnect.
    """

    answer_s: float | None = None
    breaker: Breaker | None = None
    timed_out = False

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
        if timeout is not None or self.answer_s is None:  # psycopg's own limit, or none
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.answer_s)
        except psycopg.errors._WaitTimeout:  # what wait(timeout=...) raises (psycopg >= 3.3)
            self.pgconn.finish()
            self.timed_out = True
            reason = f"no answer from the database server within {self.answer_s:g} s"
            if self.breaker:
                self.breaker.failed(reason)
            raise psycopg.OperationalError(f"{reason}; connection closed") from None

    def ping(self, seconds: float | None) -> None:
        """``SELECT 1`` outside any transaction, waiting at most ``seconds`` for it."""
        autocommit, answer_s = self.autocommit, self.answer_s
        self.autocommit, self.answer_s = True, seconds
        try:
            self.execute("SELECT 1")
        finally:
            self.answer_s = answer_s
            if not self.closed:
                self.autocommit = autocommit


class Breaker:
    """Fails callers at once while a database that stopped answering is given time.

    Without it, every request waits out its own limit on a frozen database, and a few
    such requests occupy every thread of the service: /healthz and cached forecasts
    stop answering too. Once a connection or statement found no answer, callers fail
    at once for ``cooldown_s``; then one caller at a time tries again (its connect or
    ping is bounded, ``probe_s`` in all), and the first success lets everyone through.
    """

    def __init__(self, cooldown_s: float, probe_s: float):
        self._cooldown_s = cooldown_s
        self._probe_s = probe_s
        self._lock = threading.Lock()
        self._failing = False
        self._retry_at = 0.0
        self._prober: int | None = None
        self._reason = ""

    def admit(self) -> None:
        """Return if the caller may use the database; raise :class:`DatabaseUnavailable` if not."""
        if not self._failing:
            return
        with self._lock:
            me, now = threading.get_ident(), time.monotonic()
            if not self._failing or self._prober == me:
                return
            if now >= self._retry_at:  # this caller tries; another may if it never reports
                self._prober, self._retry_at = me, now + self._probe_s
                return
            reason = self._reason
        raise DatabaseUnavailable(f"the database did not answer ({reason}); failing at once until it does")

    def succeeded(self) -> None:
        if self._failing:
            with self._lock:
                self._failing, self._prober = False, None

    def failed(self, reason: str) -> None:
        with self._lock:
            self._failing, self._prober, self._reason = True, None, reason
            self._retry_at = time.monotonic() + self._cooldown_s
