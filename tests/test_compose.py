"""docker-compose.yml and its images agree with the path the rest of the suite tests.

Read as YAML (merge keys resolved), without Docker, and checked against the sources it must
follow: the components `airflow standalone` runs, the settings `make up` gives them and the
nginx configuration and command it runs (scripts/stack.py), the Makefile's `serve` recipe,
the shared names of forecasting/pipelines.py, the plugin's configuration key and the pins
of requirements.txt.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from forecasting.pipelines import GOOGLE_CONNECTION, GOOGLE_POOL, STORE_CONNECTION
from forecasting.sources.google_trends import GoogleTrendsSettings
from scripts import stack
from serving.settings import DEFAULT_MAX_BODY_BYTES
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_COMMON = COMPOSE["x-airflow-common"]
AIRFLOW_SERVICES = sorted(
    name for name, spec in SERVICES.items() if spec.get("image") == AIRFLOW_COMMON["image"]
)
INIT = SERVICES["airflow-init"]
SERVICE = SERVICES["forecasting-service"]
SERVICE_ENV = SERVICE["environment"]
SERVICE_PORT = int(SERVICE_ENV["FORECASTING_BIND"].rpartition(":")[2])
NGINX = SERVICES["nginx"]
ONE_SHOT = {"airflow-init"}
STARTED_FIRST = {"postgres", "redis"}  # what airflow-init and the rest wait for
# What `make up` sets for its one machine and compose leaves to the image's defaults.
LOCAL_ONLY = {
    "PATH": "the images install onto the default PATH, not into a virtual environment",
    "AIRFLOW_HOME": "the image's /opt/airflow",
    "AIRFLOW__CORE__DAGS_FOLDER": "the image's /opt/airflow/dags, where dags/ is mounted",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "the image's /opt/airflow/plugins, where plugins/ is mounted",
    "AIRFLOW__API__HOST": "the api-server listens on the container's interfaces",
    "AIRFLOW__API__PORT": "8080 in every container, published as such",
    "AIRFLOW__CORE__PARALLELISM": "a server runs Airflow's default number of task slots",
}


def with_defaults(value: str) -> str:
    """What compose makes of ``value`` when no variable is set: ``${NAME:-default}`` becomes default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def init_script_lines() -> list[str]:
    """airflow-init's shell script as compose runs it, one command a line."""
    script = INIT["command"][-1].replace("$$", "$").replace("\\\n", " ")
    return [" ".join(line.split()) for line in script.splitlines() if line.strip()]


def make_recipe(target: str) -> list[list[str]]:
    """The commands of a Makefile target, split as the shell would, with the venv's `$(BIN)/` removed."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"{target}:")))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(shlex.split(line.strip().replace("$(BIN)/", "")))
    return recipe


def standalone_components() -> set[str]:
    """The `airflow` subcommands that `airflow standalone` starts, read from its source."""
    try:
        source = metadata.distribution("apache-airflow-core").locate_file(
            "airflow/cli/commands/standalone_command.py"
        )
    except metadata.PackageNotFoundError:
        pytest.skip("Airflow is not installed: the components of `airflow standalone` are unknown")
    calls = [
        node for node in ast.walk(ast.parse(Path(str(source)).read_text())) if isinstance(node, ast.Call)
    ]
    return {
        " ".join(ast.literal_eval(keyword.value))
        for call in calls
        if getattr(call.func, "id", None) == "SubCommand"
        for keyword in call.keywords
        if keyword.arg == "command"
    }


def module_constants(path: Path) -> dict[str, object]:
    """Top-level ``NAME = literal`` assignments of a module, read without importing it."""
    constants = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def stack_env(function: str) -> dict[str, object]:
    """The variables a function of scripts/stack.py (`make up`) sets: their literal values, else None."""
    tree = ast.parse((REPO / "scripts" / "stack.py").read_text())
    body = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function)
    returned = next(node.value for node in ast.walk(body) if isinstance(node, ast.Return))
    return {
        key.value: value.value if isinstance(value, ast.Constant) else None
        for key, value in zip(returned.keys, returned.values)
        if isinstance(key, ast.Constant)  # `**base_env(...)` has no key
    }


def dockerfile(name: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (keyword, arguments), continuation lines joined, comments dropped."""
    text = (REPO / name).read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (keyword.upper(), " ".join(arguments.split()))
        for keyword, _, arguments in (
            line.partition(" ") for line in lines if line and not line.startswith("#")
        )
    ]


def published_port(service: dict, container_port: int) -> int:
    """The host port a service publishes for ``container_port``."""
    for mapping in service.get("ports", []):
        host, _, container = str(mapping).rpartition(":")
        if int(container) == container_port:
            return int(host)
    raise AssertionError(f"container port {container_port} is not published")


def nginx_script() -> tuple[list[str], list[str]]:
    """The nginx container's two commands, split as the shell would: envsubst's and nginx's."""
    script = NGINX["command"][-1].replace("$$", "$").replace("\\\n", " ")
    render, run = (shlex.split(line) for line in script.splitlines() if line.strip())
    return render, run


def envsubst(text: str, names: list[str], env: dict[str, str]) -> str:
    """What ``envsubst '$NAME ...'`` makes of ``text``: only the listed variables are replaced."""
    for name in names:
        text = re.sub(rf"\$(?:\{{{name}\}}|{name}\b)", lambda _, name=name: env[name], text)
    return text


def service_behind(url: str) -> tuple[str, int]:
    """The compose service an internal URL points at, and the port it uses there."""
    parts = urlsplit(url)
    assert parts.hostname in SERVICES, f"{url} names no service"
    return parts.hostname, parts.port


def test_every_component_that_airflow_standalone_runs_is_a_service_with_the_same_command():
    components = standalone_components()
    long_running = [
        name for name in AIRFLOW_SERVICES if name not in ONE_SHOT and not SERVICES[name].get("profiles")
    ]

    assert sorted(SERVICES[name]["command"] for name in long_running) == sorted(components)


def test_airflow_has_the_settings_make_up_gives_airflow_standalone():
    make_up = stack_env("airflow_env")
    env = AIRFLOW_COMMON["environment"]

    assert set(make_up) - set(LOCAL_ONLY) <= set(env)
    for name, value in make_up.items():
        if value is not None and name not in LOCAL_ONLY:
            assert with_defaults(env[name]).lower() == str(value).lower(), name
    admin = module_constants(REPO / "scripts" / "stack.py")["ADMIN"]
    assert with_defaults(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]) == f"{admin}:admin"


def test_the_service_and_the_store_migration_have_the_settings_make_up_gives_them():
    service, store = set(stack_env("service_env")), set(stack_env("base_env")) - set(LOCAL_ONLY)

    assert store
    assert service | store <= set(SERVICE_ENV)
    assert store <= set(INIT["environment"])


def test_the_service_runs_the_gunicorn_command_of_make_serve_after_its_database_upgrade():
    recipe = make_recipe("serve")
    gunicorn = [command for command in recipe if command[0] == "gunicorn"]

    assert gunicorn == [SERVICE["command"]]
    # The rest of the recipe (the store's upgrade) is airflow-init's, which the service waits for.
    before = [shlex.join(command) for command in recipe if command[0] != "gunicorn"]
    assert before
    assert set(before) <= set(init_script_lines())
    assert SERVICE["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    # The image alone runs the same command.
    assert [
        json.loads(cmd) for keyword, cmd in dockerfile("Dockerfile.serving") if keyword == "CMD"
    ] == gunicorn


def test_the_service_listens_on_its_containers_interfaces_publishes_no_port_and_checks_healthz():
    healthcheck = " ".join(SERVICE["healthcheck"]["test"])

    assert SERVICE_ENV["FORECASTING_BIND"] == f"0.0.0.0:{SERVICE_PORT}"
    assert "ports" not in SERVICE
    assert f"http://localhost:{SERVICE_PORT}/healthz" in healthcheck


def test_nginx_alone_publishes_the_service_port_and_passes_requests_to_the_service():
    env = NGINX["environment"]
    upstream, port = service_behind(f"http://{env['NGINX_UPSTREAM']}")

    assert published_port(NGINX, int(env["NGINX_LISTEN"])) == SERVICE_PORT
    assert (upstream, port) == ("forecasting-service", SERVICE_PORT)
    assert {name for name, spec in SERVICES.items() if spec.get("ports")} == {"nginx", "airflow-apiserver"}
    assert NGINX["depends_on"] == {"forecasting-service": {"condition": "service_healthy"}}
    assert f"http://localhost:{env['NGINX_LISTEN']}/healthz" in NGINX["healthcheck"]["test"]
    # One body limit for both, the service's default unless set.
    assert env["FORECASTING_MAX_BODY_BYTES"] == SERVICE_ENV["FORECASTING_MAX_BODY_BYTES"]
    assert with_defaults(env["FORECASTING_MAX_BODY_BYTES"]) == str(DEFAULT_MAX_BODY_BYTES)


def test_nginx_runs_the_configuration_and_command_of_make_up():
    render, run = nginx_script()
    names = re.findall(r"\$\{(\w+)\}", render[1])
    template, rendered = render[render.index("<") + 1], render[render.index(">") + 1]
    env = {name: with_defaults(value) for name, value in NGINX["environment"].items()}

    assert render[0] == "envsubst"
    assert f"./deploy/nginx.conf:{template}:ro" in NGINX["volumes"]
    assert stack.NGINX_TEMPLATE == REPO / "deploy" / "nginx.conf"
    # The variables envsubst fills in are the placeholders `make up` fills in, given to the container.
    assert set(names) == set(stack_env("nginx_settings")) == set(env)
    assert envsubst(stack.NGINX_TEMPLATE.read_text(), names, env) == stack.nginx_config(env)
    prefix = Path(rendered).parent
    command = stack.nginx_command(prefix)
    # Run by root, `make up` also names its workers' user; the image's nginx has its own.
    assert run[0] == "exec" and run[1:-1] == ["nginx", *command[1:-1]]
    assert command[-1].startswith(run[-1])


def test_every_long_running_service_has_a_healthcheck_and_restarts():
    for name, spec in SERVICES.items():
        if name in ONE_SHOT:
            assert "restart" not in spec, name
            continue
        assert spec["healthcheck"]["test"], name
        assert spec["restart"] == "always", name


def test_services_start_once_postgres_is_healthy_and_airflow_init_has_succeeded():
    assert INIT["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name, spec in SERVICES.items():
        if name in ONE_SHOT | STARTED_FIRST | {"nginx"}:  # nginx waits for the service, which waits for them
            continue
        assert spec["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert spec["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}, name


def test_dependencies_exist_in_the_same_profiles_and_healthy_ones_have_a_healthcheck():
    for name, spec in SERVICES.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} waits for an unknown {dependency}"
            # `docker compose up` without the profile would refuse a service needing a disabled one.
            assert set(SERVICES[dependency].get("profiles", [])) <= set(spec.get("profiles", [])), name
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], dependency


def test_airflow_init_migrates_both_databases_and_creates_the_connections_and_pool_the_dags_use():
    lines = init_script_lines()
    added = {
        re.search(r"airflow connections add (\S+)", line)[1]: line
        for line in lines
        if "connections add" in line
    }
    pools = [re.search(r"airflow pools set (\S+) ", line)[1] for line in lines if "pools set" in line]

    assert "airflow db migrate" in lines
    assert "forecasting db upgrade" in lines
    assert set(added) == {STORE_CONNECTION, GOOGLE_CONNECTION}
    for conn_id, line in added.items():  # a restart keeps what was edited in the UI
        assert line.startswith(f"airflow connections get {conn_id} >/dev/null 2>&1 || "), line
    assert pools == [GOOGLE_POOL]
    assert with_defaults(INIT["environment"]["GOOGLE_TRENDS_POOL_SLOTS"]) == "2"


def test_airflow_init_reads_only_variables_it_is_given():
    script = "\n".join(init_script_lines())
    used = set(re.findall(r"\$\{(\w+)\}", script)) | set(re.findall(r'os\.environ\["(\w+)"\]', script))

    assert used
    assert used <= set(INIT["environment"])


def test_the_google_trends_connection_extras_are_settings_the_hook_accepts():
    extras = json.loads(INIT["environment"]["GOOGLE_TRENDS_EXTRA"])

    assert GoogleTrendsSettings.from_mapping(extras) == GoogleTrendsSettings(**extras)


def test_the_store_and_airflows_metadata_are_two_databases_with_their_own_roles_on_one_server():
    postgres = SERVICES["postgres"]
    init_sql = (REPO / "deploy" / "postgres-init.sh").read_text()
    store = make_url(with_defaults(SERVICE_ENV["FORECASTING_DATABASE_URL"]))
    metadata_db = make_url(
        with_defaults(AIRFLOW_COMMON["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    )

    assert INIT["environment"]["FORECASTING_DATABASE_URL"] == SERVICE_ENV["FORECASTING_DATABASE_URL"]
    assert store.host == metadata_db.host == "postgres"
    assert (metadata_db.database, metadata_db.username) == (
        postgres["environment"]["POSTGRES_DB"],
        postgres["environment"]["POSTGRES_USER"],
    )
    assert re.search(rf"CREATE DATABASE {store.database} OWNER {store.username};", init_sql)
    assert re.search(rf"CREATE ROLE {store.username} LOGIN PASSWORD :'password';", init_sql)
    assert store.database != metadata_db.database and store.username != metadata_db.username
    assert store.password == with_defaults(postgres["environment"]["FORECASTING_DB_PASSWORD"])
    assert "./deploy/postgres-init.sh:/docker-entrypoint-initdb.d/forecasting.sh:ro" in postgres["volumes"]


def test_every_airflow_service_shares_the_image_settings_and_mounts():
    assert set(AIRFLOW_SERVICES) >= {"airflow-init", "airflow-apiserver", "airflow-worker"}
    for name in AIRFLOW_SERVICES:
        spec = SERVICES[name]
        assert spec["build"] == AIRFLOW_COMMON["build"] == ".", name
        assert spec["environment"].items() >= AIRFLOW_COMMON["environment"].items(), name
        assert spec["volumes"] == AIRFLOW_COMMON["volumes"], name


def test_the_dags_and_plugins_are_mounted_and_copied_where_airflow_reads_them():
    copies = [arguments.split()[-2:] for keyword, arguments in dockerfile("Dockerfile") if keyword == "COPY"]
    for folder in ("dags", "plugins"):
        assert (REPO / folder).is_dir()
        assert f"./{folder}:/opt/airflow/{folder}:ro" in AIRFLOW_COMMON["volumes"]
        assert [folder, f"/opt/airflow/{folder}"] in copies


def test_airflow_settings_the_project_relies_on():
    env = AIRFLOW_COMMON["environment"]
    plugin = module_constants(REPO / "plugins" / "forecasting_plugin.py")
    service_url = env[f"AIRFLOW__{plugin['CONFIG_SECTION']}__{plugin['SERVICE_URL_KEY']}".upper()]
    execution_api, port = service_behind(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])

    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"
    assert SERVICES[execution_api]["command"] == "api-server"
    assert urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).path == "/execution/"
    assert published_port(SERVICES[execution_api], port)
    # The browser's address of the service: the port it is published on.
    assert urlsplit(service_url).hostname == "localhost"
    assert urlsplit(service_url).port == published_port(NGINX, SERVICE_PORT)
    # The scheduler's healthcheck asks the health server this setting starts.
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert "http://localhost:8974/health" in SERVICES["airflow-scheduler"]["healthcheck"]["test"]


def test_the_service_triggers_dag_runs_through_the_api_server_as_the_airflow_user():
    api_server, port = service_behind(SERVICE_ENV["FORECASTING_AIRFLOW_URL"])
    user, role = AIRFLOW_COMMON["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].rsplit(":", 1)

    assert SERVICES[api_server]["command"] == "api-server"
    assert published_port(SERVICES[api_server], port)
    assert SERVICE_ENV["FORECASTING_AIRFLOW_USERNAME"] == INIT["environment"]["AIRFLOW_USERNAME"] == user
    assert role == "admin"
    # airflow-init writes the password the api-server checks from the same variable.
    assert SERVICE_ENV["FORECASTING_AIRFLOW_PASSWORD"] == INIT["environment"]["AIRFLOW_PASSWORD"]
    assert SERVICE_ENV["FORECASTING_API_TOKEN"] == "${FORECASTING_API_TOKEN:-}"


def test_the_celery_profile_adds_redis_and_workers_and_nothing_else_has_a_profile():
    profiled = {name: spec["profiles"] for name, spec in SERVICES.items() if "profiles" in spec}
    broker, _ = service_behind(AIRFLOW_COMMON["environment"]["AIRFLOW__CELERY__BROKER_URL"])

    assert profiled == {"redis": ["celery"], "airflow-worker": ["celery"]}
    assert SERVICES["airflow-worker"]["command"] == "celery worker"
    assert broker == "redis"
    assert SERVICES["airflow-worker"]["depends_on"][broker] == {"condition": "service_healthy"}


def test_the_airflow_image_extends_the_release_that_requirements_pin():
    pin = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)[1]
    stages = [arguments for keyword, arguments in dockerfile("Dockerfile") if keyword == "FROM"]
    final = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", stages[-1])
    runs = [arguments for keyword, arguments in dockerfile("Dockerfile") if keyword == "RUN"]

    assert final, stages[-1]
    assert final[1] == pin
    assert pin.startswith("3.3.")
    assert any(
        "-r /tmp/requirements.txt" in run and "apache-airflow==${AIRFLOW_VERSION}" in run for run in runs
    )
    # Every image runs the same Python: the wheel stage, Airflow's and the service's.
    serving = [arguments for keyword, arguments in dockerfile("Dockerfile.serving") if keyword == "FROM"]
    assert {stage.split()[0] for stage in stages[:-1] + serving} == {f"python:{final[2]}-slim"}


def test_the_service_image_installs_the_serving_requirements_and_not_airflows():
    instructions = " ".join(arguments for _, arguments in dockerfile("Dockerfile.serving"))

    assert "pip install -r requirements-serving.txt" in instructions
    assert "requirements.txt" not in instructions
    assert "airflow" not in instructions
    assert SERVICE["build"] == {"context": ".", "dockerfile": "Dockerfile.serving"}


def test_what_the_images_copy_is_in_the_build_context():
    ignored = [
        line.removeprefix("**/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    for name in ("Dockerfile", "Dockerfile.serving"):
        for keyword, arguments in dockerfile(name):
            if keyword != "COPY" or "--from=" in arguments:
                continue
            sources = [word for word in arguments.split()[:-1] if not word.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"{name} copies a missing {source}"
                assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), (
                    f"{source} is ignored"
                )
