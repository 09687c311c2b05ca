"""The whole system on one machine: ``make up`` starts it, ``make down`` stops it.

``airflow standalone`` (SQLite metadata, LocalExecutor) and the forecasting service
(gunicorn, behind nginx) run on the embedded store, everything under one state directory
(``var/`` by default): Airflow's home, both SQLite databases, nginx's configuration, the
servers' logs and the pid file.

nginx (Debian's) listens on the service's port and passes whole requests to gunicorn on
a loopback port of its own: slow clients wait in nginx, not in gunicorn's threads
(deploy/nginx.conf says how). docker-compose.yml runs the same configuration.

Each server starts in a session of its own, and the pid file records the session
leaders. ``down`` stops exactly the processes of those sessions, found in ``/proc``
(Linux): Airflow's task processes run in process groups of their own, so killing the
leaders' groups alone would leave them behind.

Run by the virtual environment's Python: its ``bin/`` provides ``airflow``, ``forecasting``
and ``gunicorn``, and its packages the shared names of the DAGs and the service's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.errors import InvalidInput
from forecasting.pipelines import GOOGLE_POOL, REFRESH_DAG_ID, RETRAIN_DAG_ID
from serving.settings import Settings

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADMIN = "admin"
POOL_SLOTS = 1  # SQLite has one writer at a time: one refresh batch at once
PARALLELISM = 4  # task slots of the LocalExecutor: enough for the mapped tasks, ~1.1 GiB in all
STOP_GRACE_S = 30.0  # gunicorn lets requests finish for 20 s (serving/gunicorn.conf.py)
TAIL_LINES = 40
DAG_IDS = (REFRESH_DAG_ID, RETRAIN_DAG_ID)
NGINX = Path("/usr/sbin/nginx")  # Debian's
NGINX_TEMPLATE = REPO / "deploy" / "nginx.conf"


class StackError(Exception):
    """Startup failed; the message says why and may carry a log's tail."""


@dataclass(frozen=True)
class Layout:
    """Where everything of one stack lives, under its state directory."""

    var: Path

    @property
    def airflow_home(self) -> Path:
        return self.var / "airflow"

    @property
    def logs(self) -> Path:
        return self.var / "logs"

    @property
    def nginx(self) -> Path:
        """nginx's prefix: its configuration, pid file and buffer directories."""
        return self.var / "nginx"

    @property
    def pid_file(self) -> Path:
        return self.var / "stack.json"

    @property
    def password_file(self) -> Path:
        """Where Airflow's simple auth manager reads the users' passwords (its default path)."""
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    @property
    def store_url(self) -> str:
        # Absolute: Airflow's tasks run in other working directories.
        return f"sqlite:///{self.var / 'forecasting.db'}"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


@dataclass(frozen=True)
class Ports:
    airflow: int
    service: int  # nginx's
    gunicorn: int  # on loopback, reached through nginx only

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service}"


def base_env(layout: Layout) -> dict[str, str]:
    """The caller's environment, the venv's tools first on PATH (standalone runs ``airflow``)."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "FORECASTING_DATABASE_URL": layout.store_url,
    }


def airflow_env(layout: Layout, ports: Ports) -> dict[str, str]:
    home = layout.airflow_home
    return {
        **base_env(layout),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.airflow),
        # Tasks reach the api-server here; its default assumes port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{ports.airflow_url}/execution/",
        "AIRFLOW__FORECASTING__SERVICE_URL": ports.service_url,
    }


def service_env(layout: Layout, ports: Ports, password: str) -> dict[str, str]:
    """The service hands ``train`` and ``update-*`` to this Airflow."""
    return {
        **base_env(layout),
        "FORECASTING_BIND": f"127.0.0.1:{ports.gunicorn}",
        "FORECASTING_AIRFLOW_URL": ports.airflow_url,
        "FORECASTING_AIRFLOW_USERNAME": ADMIN,
        "FORECASTING_AIRFLOW_PASSWORD": password,
    }


def nginx_settings(listen: str, upstream: str, service: dict[str, str]) -> dict[str, str]:
    """The placeholders of deploy/nginx.conf; docker-compose.yml gives its nginx the same variables.

    The body limit is the one the service reads from ``service``, its environment.
    """
    return {
        "NGINX_LISTEN": listen,
        "NGINX_UPSTREAM": upstream,
        "FORECASTING_MAX_BODY_BYTES": str(Settings.from_env(service).max_body_bytes),
    }


def nginx_config(settings: dict[str, str]) -> str:
    """deploy/nginx.conf with its ``${NAME}`` placeholders filled in, as envsubst fills them."""
    template = NGINX_TEMPLATE.read_text()
    unknown = set(re.findall(r"\$\{(\w+)\}", template)) ^ set(settings)
    if unknown:
        raise ValueError(f"{NGINX_TEMPLATE} and the settings given differ in {sorted(unknown)}")
    return re.sub(r"\$\{(\w+)\}", lambda match: settings[match[1]], template)


def nginx_command(prefix: Path) -> list[str]:
    """nginx in the foreground on ``prefix/nginx.conf``; its relative paths are under ``prefix``.

    Started by root, nginx would run its workers as ``nobody``, who may not reach the prefix
    (under /root, or a private temporary directory) to buffer bodies there: they run as the
    caller instead, like the stack's other servers.
    """
    directives = "daemon off;" if os.geteuid() else "daemon off; user root;"
    return [
        str(NGINX),
        "-p",
        f"{prefix}/",
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        "stderr",
        "-g",
        directives,
    ]


def admin_password(layout: Layout) -> str:
    """The admin's password, generated here on the first ``up`` so the service can be given it.

    Airflow keeps a password it finds in the file and only adds missing users.
    """
    if layout.password_file.exists():
        return json.loads(layout.password_file.read_text())[ADMIN]
    password = secrets.token_urlsafe(12)
    layout.password_file.touch(mode=0o600)
    layout.password_file.write_text(json.dumps({ADMIN: password}) + "\n")
    return password


# Processes


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if it is gone; tells a reused pid apart."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def alive(process: dict[str, Any]) -> bool:
    """The recorded server process itself still runs."""
    return start_time(process["pid"]) == process["started"]


def session_members(leader: int, started: int) -> dict[int, int]:
    """``{pid: process group}`` of every process in the session that ``leader`` started.

    A live process with the leader's pid but another start time means the session is gone
    and its pid reused: nothing of ours.
    """
    if start_time(leader) not in (started, None):
        return {}
    members = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[3]) == leader:
            members[int(entry.name)] = int(fields[2])
    return members


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, session, ...).

    None for a zombie too: it has exited, and signals cannot remove it (its parent reaps it).
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields


def start(name: str, command: list[str], env: dict[str, str], layout: Layout) -> dict[str, Any]:
    """Start a server in its own session, its output in ``logs/<name>.log``; returns its record.

    The log is opened for appending: nginx opens /dev/stdout again for its access log, and
    its error lines on stderr must not overwrite those.
    """
    layout.log(name).write_text("")
    with layout.log(name).open("a") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return {"pid": process.pid, "started": start_time(process.pid), "log": str(layout.log(name))}


def stop(processes: dict[str, dict[str, Any]]) -> dict[str, int]:
    """SIGTERM every process of the recorded sessions, SIGKILL what outlives the grace period.

    Signals go to process groups: a process forked meanwhile is in its parent's group.
    Returns how many processes each server had.
    """
    counts = {name: len(session_members(p["pid"], p["started"])) for name, p in processes.items()}
    deadline = time.monotonic() + STOP_GRACE_S
    sig = signal.SIGTERM
    while True:
        groups = {g for p in processes.values() for g in session_members(p["pid"], p["started"]).values()}
        if not groups:
            return counts
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


# HTTP


def request(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int | None, Any]:
    """``(status, parsed JSON body)``; status None while nothing answers."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, urllib.error.URLError):  # refused, reset, or timed out while starting
        return None, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on, chosen by the kernel."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Startup


def run_step(title: str, command: list[str], env: dict[str, str], layout: Layout) -> None:
    """Run one setup command, its output appended to ``logs/setup.log``."""
    print(f"  {title}", flush=True)
    log_path = layout.log("setup")
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        result = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise StackError(f"{title} failed (exit {result.returncode})\n{tail(log_path)}")


def tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    except OSError:
        return f"(no log at {path})"
    return f"--- last lines of {path} ---\n" + "\n".join(lines)


class Waiter:
    """Polls until a condition holds, failing early if a server exits, and says what it waits for."""

    def __init__(self, processes: dict[str, dict[str, Any]], began: float, timeout_s: float):
        self.processes = processes
        self.began = began
        self.deadline = began + timeout_s

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def until(self, what: str, log: Path, check: Callable[[], Any]) -> Any:
        """Return ``check()``'s first truthy value; raise with ``log``'s tail on exit or timeout."""
        last_note = time.monotonic()
        while True:
            if value := check():
                print(f"  {what} ({self.elapsed():.0f} s)", flush=True)
                return value
            for name, process in self.processes.items():
                if not alive(process):
                    raise StackError(f"{name} exited while waiting for: {what}\n{tail(Path(process['log']))}")
            if time.monotonic() > self.deadline:
                raise StackError(f"timed out after {self.elapsed():.0f} s waiting for: {what}\n{tail(log)}")
            if time.monotonic() - last_note >= 10:
                print(f"  ... waiting for: {what} ({self.elapsed():.0f} s)", flush=True)
                last_note = time.monotonic()
            time.sleep(1)


def airflow_healthy(url: str) -> bool:
    status, health = request("GET", f"{url}/api/v2/monitor/health")
    if status != 200 or not isinstance(health, dict):
        return False
    return all(part.get("status") == "healthy" for part in health.values() if isinstance(part, dict))


def airflow_token(url: str, password: str) -> str | None:
    status, body = request("POST", f"{url}/auth/token", {"username": ADMIN, "password": password})
    return body["access_token"] if status in (200, 201) and isinstance(body, dict) else None


def dags_parsed(url: str, token: str) -> bool:
    """True once the project's DAGs are in Airflow; a DAG file that fails to import is fatal."""
    status, errors = request("GET", f"{url}/api/v2/importErrors", token=token)
    if status == 200 and errors["import_errors"]:
        found = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors["import_errors"])
        raise StackError(f"Airflow cannot import DAG files:\n{found}")
    return all(request("GET", f"{url}/api/v2/dags/{dag_id}", token=token)[0] == 200 for dag_id in DAG_IDS)


def up(layout: Layout, ports: Ports, apply_file: Path, timeout_s: float) -> int:
    if layout.pid_file.exists():
        state = json.loads(layout.pid_file.read_text())
        running = {name for name, process in state["processes"].items() if alive(process)}
        if running and running == set(state["processes"]):
            print(f"Already up (pid file {layout.pid_file}):")
            print_summary(layout, state, admin_password(layout))
            return 0
        if running or any(session_members(p["pid"], p["started"]) for p in state["processes"].values()):
            stopped = ", ".join(sorted(set(state["processes"]) - running))
            print(f"Partly up: {stopped} stopped. Run {down_command(layout)}, then make up.", file=sys.stderr)
            return 1
        layout.pid_file.unlink()  # a stale record: its processes are all gone
    if not NGINX.is_file():
        print(
            f"make up puts nginx in front of the service, and {NGINX} is missing: apt-get install nginx",
            file=sys.stderr,
        )
        return 1
    taken = [f"{port} ({name})" for name, port in vars(ports).items() if not port_free(port)]
    if taken:
        print(
            f"Port in use: {', '.join(taken)}; choose others: make up AIRFLOW_PORT=N SERVICE_PORT=N",
            file=sys.stderr,
        )
        return 1

    for directory in (layout.var, layout.airflow_home, layout.logs, layout.nginx):
        directory.mkdir(parents=True, exist_ok=True)
    layout.log("setup").write_text("")
    state = {
        "airflow_url": ports.airflow_url,
        "service_url": ports.service_url,
        "gunicorn": f"127.0.0.1:{ports.gunicorn}",
        "store": layout.store_url,
        "processes": {},
    }
    print(f"Starting in {layout.var}", flush=True)
    started = False
    try:
        start_servers(layout, ports, apply_file, timeout_s, state)
        started = True
    except StackError as exc:
        print(f"\nStartup failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
    finally:
        if not started:
            stop(state["processes"])
            layout.pid_file.unlink(missing_ok=True)
            print("Stopped what had been started.", file=sys.stderr)
    return 0 if started else 1


def start_servers(
    layout: Layout, ports: Ports, apply_file: Path, timeout_s: float, state: dict[str, Any]
) -> None:
    """Prepare both databases, start the servers (recorded at once), wait until they serve."""
    began = time.monotonic()
    env = base_env(layout)
    forecasting = str(BIN / "forecasting")
    run_step("forecasting store: migrate", [forecasting, "db", "upgrade"], env, layout)
    run_step(f"forecasting store: apply {apply_file}", [forecasting, "apply", str(apply_file)], env, layout)

    password = admin_password(layout)
    gunicorn = [str(BIN / "gunicorn"), "-c", "serving/gunicorn.conf.py", "serving:create_app()"]
    service = service_env(layout, ports, password)
    try:
        proxy = nginx_settings(f"127.0.0.1:{ports.service}", service["FORECASTING_BIND"], service)
    except InvalidInput as exc:  # the service would refuse to start on it too
        raise StackError(str(exc)) from None
    (layout.nginx / "nginx.conf").write_text(nginx_config(proxy))
    record(layout, state, "service", start("service", gunicorn, service, layout))
    record(layout, state, "nginx", start("nginx", nginx_command(layout.nginx), base_env(layout), layout))

    airflow = str(BIN / "airflow")
    env = airflow_env(layout, ports)
    run_step("Airflow metadata: migrate", [airflow, "db", "migrate"], env, layout)
    pool = [airflow, "pools", "set", GOOGLE_POOL, str(POOL_SLOTS), "Calls to Google; one slot on SQLite"]
    run_step(f"Airflow pool {GOOGLE_POOL}: {POOL_SLOTS} slot", pool, env, layout)
    record(layout, state, "airflow", start("airflow", [airflow, "standalone"], env, layout))

    waiter = Waiter(state["processes"], began, timeout_s)
    service_log, airflow_log = layout.log("service"), layout.log("airflow")
    waiter.until(
        f"service answers at {ports.service_url}",
        service_log,
        lambda: request("GET", f"{ports.service_url}/healthz")[0] == 200,
    )
    waiter.until(
        "Airflow api-server, scheduler, dag-processor and triggerer healthy",
        airflow_log,
        lambda: airflow_healthy(ports.airflow_url),
    )
    token = waiter.until("Airflow login", airflow_log, lambda: airflow_token(ports.airflow_url, password))
    waiter.until(
        f"DAGs {', '.join(DAG_IDS)} parsed", airflow_log, lambda: dags_parsed(ports.airflow_url, token)
    )
    print(f"Up in {time.monotonic() - began:.0f} s.\n")
    print_summary(layout, state, password)


def record(layout: Layout, state: dict[str, Any], name: str, process: dict[str, Any]) -> None:
    """Written at once, so that ``down`` finds a server even if ``up`` dies while waiting."""
    state["processes"][name] = process
    layout.pid_file.write_text(json.dumps(state, indent=2) + "\n")


def print_summary(layout: Layout, state: dict[str, Any], password: str) -> None:
    print(f"  Airflow UI        {state['airflow_url']}/  (user {ADMIN}, password {password})")
    print(f"  Forecast service  {state['service_url']}/")
    print(f"  Store             {state['store']}")
    print(f"  Logs              {layout.logs}/  (task logs: {layout.airflow_home / 'logs'}/)")
    if not os.environ.get("FORECASTING_API_TOKEN"):
        print("  The service's writes answer 403: set FORECASTING_API_TOKEN before make up to allow them.")
    print(f"Stop it all with: {down_command(layout)}")


def down_command(layout: Layout) -> str:
    return "make down" if layout.var == REPO / "var" else f"make down VAR={layout.var}"


def down(layout: Layout) -> int:
    if not layout.pid_file.exists():
        print(f"Nothing to stop: no {layout.pid_file}.")
        return 0
    processes = json.loads(layout.pid_file.read_text())["processes"]
    counts = stop(processes)
    layout.pid_file.unlink()
    if not any(counts.values()):
        print("Nothing was running (its processes had already exited).")
        return 0
    print("Stopped " + ", ".join(f"{name} ({n} processes)" for name, n in counts.items()) + ".")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--var", type=Path, default=REPO / "var", help="state directory (default: var/)")
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--service-port", type=int, default=8000)
    parser.add_argument("--apply", type=Path, default=REPO / "examples" / "sample.yaml", help="seed file")
    parser.add_argument("--timeout", type=float, default=300, help="seconds the whole startup may take")
    args = parser.parse_args(argv)
    layout = Layout(args.var.resolve())
    if args.command == "down":
        return down(layout)
    ports = Ports(args.airflow_port, args.service_port, free_port())
    return up(layout, ports, args.apply.resolve(), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
