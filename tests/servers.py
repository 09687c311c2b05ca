"""Real servers and processes for tests: gunicorn with the production config, the CLI, a proxy to Postgres.

The proxy lets a test take the database away from a server (and bring it back)
without stopping the Postgres server other tests share.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

SERVER_TTL_S = 1.0  # the `server` fixture's cache TTL: short, so workers check the database during a test

REPO = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
CONFIG = REPO / "serving" / "gunicorn.conf.py"
FORECASTING = Path(sys.executable).with_name("forecasting")  # the venv's CLI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Poll ``url``/healthz until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening, or workers still booting
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}/healthz did not answer within {timeout_s:.0f} s")


def stop_process_group(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """SIGTERM the process, SIGKILL it if it does not exit, and require its whole group gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"processes of group {process.pid} outlived the server; killed them")


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def worker_pids(self) -> set[int]:
        """The master's child processes."""
        return child_pids(self.process.pid)


def child_pids(pid: int) -> set[int]:
    """The direct child processes of ``pid`` (Linux /proc)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            pids.add(int(entry.name))
    return pids


def run_cli(database_url: str, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
    """``forecasting --database-url URL ARGS`` as a user runs it; text output (LightGBM may write bytes)."""
    return subprocess.run(
        [FORECASTING, "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout_s,
    )


@contextmanager
def gunicorn_server(
    database_url: str,
    *,
    cache_ttl_s: float = 30,
    api_token: str = "test-token",
    workers: int = 2,
    start_timeout_s: float = 30,
) -> Iterator[Server]:
    """gunicorn with ``serving/gunicorn.conf.py`` on a free loopback port, stopped on exit.

    The server runs in a session of its own, so that every process it started,
    workers and their children, can be checked to be gone after the stop.
    """
    port = free_port()
    env = {
        **os.environ,
        "FORECASTING_BIND": f"127.0.0.1:{port}",
        "FORECASTING_WORKERS": str(workers),
        "FORECASTING_DATABASE_URL": database_url,
        "FORECASTING_CACHE_TTL": str(cache_ttl_s),
        "FORECASTING_API_TOKEN": api_token,
    }
    for own in ("PROMETHEUS_MULTIPROC_DIR", "OMP_NUM_THREADS"):  # the config's defaults are under test
        env.pop(own, None)
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [str(GUNICORN), "-c", str(CONFIG), "serving:create_app()"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_health(url, process, start_timeout_s)
        except RuntimeError as exc:
            log.seek(0)
            raise RuntimeError(f"{exc}; gunicorn's stderr:\n{log.read()}") from None
        yield Server(url, process)
    finally:
        stop_process_group(process)
        log.close()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``stop()`` drops the listener and every connection.

    ``freeze()`` makes the database stop answering without refusing anything, as a hung
    server or a network that drops packets does: open connections stay open and
    nothing more is forwarded either way; new connections are accepted and never
    answered. ``thaw()`` forwards again what was held and connects what was accepted.
    """

    def __init__(self, target: tuple[str, int], port: int | None = None):
        self.target = target
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        self._spawn(self._accept, listener)
        return self

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def stop(self) -> None:
        """After this, connecting is refused and open connections see the peer close."""
        with self._lock:
            doomed = [self._listener, *self._sockets] if self._listener else list(self._sockets)
            self._listener = None
            self._sockets.clear()
        for sock in doomed:
            _close(sock)
        self.thaw()  # wakes the threads that hold data or connections
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)
        assert not any(t.is_alive() for t in threads), "proxy threads did not stop"

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    _close(client)
                    return
                self._sockets.add(client)
            self._spawn(self._connect, listener, client)

    def _connect(self, listener: socket.socket, client: socket.socket) -> None:
        self._flowing.wait()  # frozen: accepted, never answered
        if self._listener is not listener:  # stopped meanwhile: stop() closed the client
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._forget(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if self._listener is not listener or client not in self._sockets:  # stopped meanwhile
                _close(upstream)
                return
            self._sockets.add(upstream)
        self._spawn(self._pump, client, upstream)
        self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()  # frozen: what arrived is held
                sink.sendall(data)
        except OSError:
            pass
        self._forget(source, sink)

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets -= set(sockets)
        for sock in sockets:
            _close(sock)


def _close(sock: socket.socket) -> None:
    """shutdown() first: it wakes a thread blocked in accept() or recv() on the socket."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
