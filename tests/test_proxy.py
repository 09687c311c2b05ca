"""nginx in front of gunicorn, as ``make up`` and docker-compose.yml run it, holds slow clients.

gunicorn's gthread workers give a connection a thread until its request is read: clients
that never finish their headers take every thread, and /healthz stops answering. nginx,
started here from deploy/nginx.conf with the command of scripts/stack.py, reads whole
requests first: through it /healthz answers while 32 such clients are held, and a body
that stalls is cut by ``client_body_timeout`` before anything reaches the upstream.

gunicorn runs one worker with the production config's 4 threads, so which worker accepts
a connection cannot matter; with more workers the same happens once every worker holds 4.
Skips where Debian's nginx is absent, unless FORECASTING_REQUIRE_NGINX=1 (CI).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from forecasting.db import make_engine
from forecasting.migrate import upgrade
from scripts import stack
from serving.settings import DEFAULT_MAX_BODY_BYTES, MAX_REQUEST_TIMEOUT_S
from tests.conftest import API_TOKEN
from tests.servers import CONFIG, Server, free_port, gunicorn_server, stop_process_group

REQUIRE_NGINX = os.environ.get("FORECASTING_REQUIRE_NGINX") == "1"
SLOW_CLIENTS = 32
ANSWER_WITHIN_S = 1.0
HELD_S = 3.0  # /healthz is asked for this long while the slow clients are held (nginx allows them 10 s)
SHORT_TIMEOUT_S = 1  # the client timeouts of the configs the cutting tests render
# A request's start, never finished: the header line goes on forever.
SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture(scope="module")
def nginx_installed() -> None:
    if not stack.NGINX.is_file():
        message = f"the proxy tests need {stack.NGINX} (Debian: apt-get install nginx)"
        if REQUIRE_NGINX:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service under gunicorn with one gthread worker, on an empty SQLite store."""
    store = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    upgrade(make_engine(store))
    with gunicorn_server(store, workers=1) as server:
        yield server


@contextmanager
def nginx(prefix: Path, upstream: str, **directives: str) -> Iterator[str]:
    """nginx as ``make up`` starts it, in front of ``upstream``; yields its URL.

    ``directives`` replace values of the rendered config (``client_body_timeout="1s"``).
    """
    port = free_port()
    service_env = {**os.environ, "FORECASTING_DATABASE_URL": "sqlite://"}
    config = stack.nginx_config(stack.nginx_settings(f"127.0.0.1:{port}", upstream, service_env))
    for name, value in directives.items():
        config, replaced = re.subn(rf"^(\s*{name}) \S+;$", rf"\1 {value};", config, flags=re.MULTILINE)
        assert replaced == 1, f"{name} is not set once in deploy/nginx.conf"
    prefix.mkdir()
    (prefix / "nginx.conf").write_text(config)
    with (prefix / "nginx.log").open("a") as log:
        process = subprocess.Popen(
            stack.nginx_command(prefix),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 10
        while not accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start:\n{(prefix / 'nginx.log').read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(process)


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_of(url: str) -> int:
    return int(url.rpartition(":")[2])


def upstream_of(server: Server) -> str:
    return server.url.removeprefix("http://")


@contextmanager
def slow_clients(port: int, count: int, start: bytes = SLOW_HEADERS) -> Iterator[list[socket.socket]]:
    """``count`` connections that send ``start`` of a request and then nothing; closed on exit."""
    held = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
            sock.sendall(start)
        yield held
    finally:
        for sock in held:
            sock.close()


def healthz_seconds(url: str, timeout_s: float) -> float | None:
    """How long ``/healthz`` took to answer 200, or None if it did not answer in time."""
    began = time.monotonic()
    try:
        response = requests.get(f"{url}/healthz", timeout=timeout_s)
    except requests.Timeout:
        return None
    assert response.status_code == 200, response.text
    return time.monotonic() - began


def closed_after(sock: socket.socket, timeout_s: float) -> float:
    """Seconds until the peer closes ``sock`` (EOF or reset); fails if it stays open ``timeout_s``."""
    began = time.monotonic()
    sock.settimeout(timeout_s)
    try:
        while sock.recv(4096):  # nginx may answer 408 first
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the connection was still open after {timeout_s} s")
    return time.monotonic() - began


def still_open(sock: socket.socket) -> bool:
    """Nothing received and not closed by the peer."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_without_a_proxy_slow_clients_hold_every_thread_and_healthz_stops_answering(gunicorn: Server):
    assert healthz_seconds(gunicorn.url, ANSWER_WITHIN_S) is not None

    with slow_clients(port_of(gunicorn.url), SLOW_CLIENTS):
        assert healthz_seconds(gunicorn.url, HELD_S) is None

    # Gone, they free the threads.
    assert healthz_seconds(gunicorn.url, 10) is not None


def test_through_nginx_healthz_answers_while_32_slow_clients_are_held(
    nginx_installed: None, gunicorn: Server, tmp_path: Path
):
    with nginx(tmp_path / "nginx", upstream_of(gunicorn)) as url:
        with slow_clients(port_of(url), SLOW_CLIENTS) as held:
            answers = []
            until = time.monotonic() + HELD_S
            while time.monotonic() < until:
                answers.append(healthz_seconds(url, ANSWER_WITHIN_S))
                time.sleep(0.1)

            assert None not in answers, f"/healthz did not answer within {ANSWER_WITHIN_S} s: {answers}"
            assert all(still_open(sock) for sock in held)


def test_nginx_cuts_a_client_whose_headers_stall_at_client_header_timeout(
    nginx_installed: None, gunicorn: Server, tmp_path: Path
):
    timeout = f"{SHORT_TIMEOUT_S}s"
    with nginx(tmp_path / "nginx", upstream_of(gunicorn), client_header_timeout=timeout) as url:
        with slow_clients(port_of(url), 1) as (sock,):
            assert SHORT_TIMEOUT_S * 0.9 <= closed_after(sock, SHORT_TIMEOUT_S + 5) < SHORT_TIMEOUT_S + 2


def test_a_body_that_stalls_is_cut_by_nginx_and_never_reaches_the_upstream(
    nginx_installed: None, tmp_path: Path
):
    head = b"POST /api/timeseries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    body = b'{"name": "slow", "source": "sample"}'
    request = head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    with socket.create_server(("127.0.0.1", 0)) as upstream:  # a server that only counts connections
        upstream.settimeout(2)
        address = f"127.0.0.1:{upstream.getsockname()[1]}"
        timeout = f"{SHORT_TIMEOUT_S}s"
        with nginx(tmp_path / "nginx", address, client_body_timeout=timeout) as url:
            with slow_clients(port_of(url), 1, start=request[:-10]) as (sock,):
                assert closed_after(sock, SHORT_TIMEOUT_S + 5) < SHORT_TIMEOUT_S + 2
            with pytest.raises(TimeoutError):
                upstream.accept()

            # A whole request goes on at once, body and all.
            with slow_clients(port_of(url), 1, start=request):
                passed, _ = upstream.accept()
                with passed:
                    passed.settimeout(5)
                    received = b""
                    while not received.endswith(body):
                        received += passed.recv(65536)
            assert received.startswith(b"POST /api/timeseries HTTP/1.")


def test_nginx_refuses_a_body_over_the_services_limit_with_a_json_413(
    nginx_installed: None, gunicorn: Server, tmp_path: Path
):
    route = "/api/timeseries"
    # With the token the service reads a body it is given (an early answer would cut nginx's sending).
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    at_limit = b"x" * DEFAULT_MAX_BODY_BYTES
    with nginx(tmp_path / "nginx", upstream_of(gunicorn)) as url:

        def post(data) -> requests.Response:
            return requests.post(f"{url}{route}", data=data, headers=headers, timeout=30)

        refused = [post(at_limit + b"x"), post(iter([at_limit, b"x"]))]  # sized, chunked
        # Buffered on disk by nginx's workers on the way.
        passed = [post(at_limit), post(iter([b"x" * 1024] * (DEFAULT_MAX_BODY_BYTES // 1024)))]

    for response in refused:
        assert response.status_code == 413
        assert response.headers["Content-Type"] == "application/json"
        assert (
            f"at most {DEFAULT_MAX_BODY_BYTES} bytes (FORECASTING_MAX_BODY_BYTES)" in response.json()["error"]
        )
    for response in passed:  # the service's own answer: not JSON
        assert 400 <= response.status_code < 500 and response.status_code != 413, response.text
        assert "FORECASTING_MAX_BODY_BYTES" not in response.json()["error"]


def test_the_configs_client_timeouts_are_short_and_it_waits_longer_than_gunicorn_for_an_answer(
    tmp_path: Path,
):
    config = stack.nginx_config(
        stack.nginx_settings("8000", "service:8000", {"FORECASTING_DATABASE_URL": "sqlite://"})
    )
    seconds = {
        name: int(value) for name, value in re.findall(r"^\s*(\w+_timeout) (\d+)s;$", config, re.MULTILINE)
    }
    # gunicorn's worker timeout as its config sets it by default, read in a child: the config sets
    # its own process's environment.
    env = {name: value for name, value in os.environ.items() if not name.startswith("FORECASTING_")}
    read = f"import runpy; print(runpy.run_path({str(CONFIG)!r})['timeout'])"
    child = subprocess.run(
        [sys.executable, "-c", read],
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )

    for name in ("client_header_timeout", "client_body_timeout", "send_timeout", "keepalive_timeout"):
        assert 0 < seconds[name] <= 10, name
    assert seconds["proxy_read_timeout"] > float(child.stdout)
    assert seconds["proxy_read_timeout"] > MAX_REQUEST_TIMEOUT_S  # whatever the deployment sets
    assert re.search(r"^\s*proxy_request_buffering on;$", config, re.MULTILINE)
    assert re.search(r"^\s*proxy_buffering on;$", config, re.MULTILINE)
    assert re.search(rf"^\s*client_max_body_size {DEFAULT_MAX_BODY_BYTES};$", config, re.MULTILINE)
