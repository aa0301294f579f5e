"""docker-compose.yml and .env.example: schema, wiring, secrets and settings.

Docker Engine does not run on every machine that runs these tests, so the file
is checked statically: against the Compose Specification schema (vendored,
see README.md here), then for the properties an operator relies on.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_render import (
    ROOT,
    MissingVariable,
    compose_variables,
    env_file_documented,
    env_file_values,
    interpolate,
    settings_env_names,
)

from shared.config import Settings

COMPOSE_PATH = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA_PATH = Path(__file__).with_name("compose-spec.json")

APP_SERVICES = {"intake", "relay", "screening", "notify", "notify-api"}
WORKERS = {"screening": "screening", "notify": "notify"}  # service -> application
QUEUES = {"screening": "screening,screening-bulk", "notify": "notify"}  # by priority
PUBLISHED = {"intake": 8000, "notify-api": 8001}
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|(?<!_)KEY\b|CREDENTIAL")
# Interpolated settings whose compose default deliberately differs from
# shared/config.py, and why.
COMPOSE_DEFAULT_DEVIATIONS = {
    # Unset means "the sandbox EHR of the `sandbox` profile" under compose.
    "NEUROSCREEN_EHR_BASE_URL",
    # Compose cannot leave a variable out, only pass it empty; "" means no token.
    "NEUROSCREEN_EHR_TOKEN",
    # 0 (one uvicorn worker per core) would count the host's cores, not the container's
    # CPU limit: compose sizes it to the limit instead.
    "NEUROSCREEN_INTAKE_WORKERS",
}
# Dummy values for the variables .env.example leaves empty because they are secrets.
REQUIRED_FOR_TEST = {
    "POSTGRES_PASSWORD": "test-password",
    "NEUROSCREEN_INTAKE_TOKENS": "test-intake-token",
    "NEUROSCREEN_NOTIFY_TOKENS": "test-admin-token",
}


def example_env() -> dict[str, str]:
    env = env_file_values(ENV_EXAMPLE)
    env.update({k: v for k, v in REQUIRED_FOR_TEST.items() if not env.get(k)})
    return env


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_PATH.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw_compose, example_env())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_required_secrets_fail_fast_when_missing(raw_compose: dict[str, Any]) -> None:
    for name in REQUIRED_FOR_TEST:
        env = example_env()
        env[name] = ""
        with pytest.raises(MissingVariable, match=name):
            interpolate(raw_compose, env)


def test_expected_services_and_no_container_names(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == APP_SERVICES | {"migrate", "postgres", "redis", "ehr-sandbox"}
    named = [name for name, service in services.items() if "container_name" in service]
    assert not named, f"container_name prevents --scale: {named}"


def test_every_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            # Only a one-shot container may go without: dependants wait for
            # service_completed_successfully instead.
            assert name == "migrate" and service["restart"] == "no", name
            continue
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_depends_on_always_names_a_condition(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long form with conditions"
        for dependency, options in depends.items():
            assert dependency in services, (name, dependency)
            assert options.get("condition") in {
                "service_healthy",
                "service_completed_successfully",
            }, (name, dependency)
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["command"] == ["neuroscreen-migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_workers_consume_their_queue_and_ping_their_own_node(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, queue in WORKERS.items():
        command = services[name]["command"]
        assert command == [
            "celery",
            "-A",
            f"{queue}.worker",
            "worker",
            "-Q",
            QUEUES[name],
            "--loglevel",
            "INFO",
        ], name
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"celery -A {queue}.worker inspect ping -d" in check, name
        assert "celery@${HOSTNAME}" in check, name


def test_the_relay_is_its_own_service(services: dict[str, dict[str, Any]]) -> None:
    relay = services["relay"]
    assert relay["command"] == ["neuroscreen-relay"]
    assert relay["healthcheck"]["test"] == ["CMD", "neuroscreen-relay", "--check"]
    assert "ports" not in relay
    # The intake only stores: nothing in it publishes, so it needs no relay settings.
    assert "NEUROSCREEN_RELAY_METRICS_PORT" not in services["intake"]["environment"]


def test_commands_exist_in_the_project(services: dict[str, dict[str, Any]]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, service in services.items():
        if not service.get("build"):
            continue
        program = service["command"][0]
        if program == "celery":
            app = service["command"][service["command"].index("-A") + 1]
            package = app.split(".")[0]
            module = ROOT / "services" / package / Path(*app.split(".")).with_suffix(".py")
            assert module.is_file(), f"{name}: Celery app module {module} does not exist yet"
            continue
        assert program in scripts, f"{name}: {program} is not in [project.scripts]"
        assert_console_script_resolves(scripts[program])


def assert_console_script_resolves(target: str) -> None:
    """``package.module:function`` names a function defined in a file of the tree."""
    module, _, function = target.partition(":")
    parts = module.split(".")
    roots = [ROOT, *(path for path in (ROOT / "services").iterdir() if path.is_dir())]
    candidates = [root / Path(*parts).with_suffix(".py") for root in roots]
    candidates += [root / Path(*parts) / "__init__.py" for root in roots]
    found = [path for path in candidates if path.is_file()]
    assert found, f"{target}: module {module} does not exist yet"
    tree = ast.parse(found[0].read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert function in defined, f"{target}: {found[0]} defines no {function}()"


def test_only_intake_and_notify_api_publish_ports(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name not in PUBLISHED:
            assert "ports" not in service, f"{name} must not publish ports"
            continue
        (mapping,) = service["ports"]
        assert mapping.rsplit(":", 1)[1] == str(PUBLISHED[name]), mapping
    # The admin API (dead letters) is on loopback unless the operator decides otherwise.
    assert services["notify-api"]["ports"][0].startswith("127.0.0.1:")


def test_no_secret_is_written_in_the_compose_file(raw_compose: dict[str, Any]) -> None:
    def check(environment: dict[str, Any], where: str) -> None:
        for key, value in environment.items():
            text = str(value)
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", text), (where, key)
                assert not re.fullmatch(r"\$\{[A-Z0-9_]+:?-[^}]+\}", text), (
                    f"{where}: {key} has a literal default"
                )
            if re.search(r"://[^/]*@", text):
                # user:password@host -- the password part is an interpolation.
                credentials = r"://(\$\{[^}]*\}|[^:@/]*):\$\{[A-Z0-9_]+:?\?[^}]*\}@"
                assert re.search(credentials, text), (where, key)

    for name, service in raw_compose["services"].items():
        check(service.get("environment", {}), name)
    for key, fragment in raw_compose.items():
        if key.startswith("x-") and isinstance(fragment, dict):
            check({k: v for k, v in fragment.items() if isinstance(v, str | int | float)}, key)


def test_ehr_credentials_reach_the_notify_worker_only(services: dict[str, dict[str, Any]]) -> None:
    # The notify worker signs with the private key; the notify API publishes the public
    # keys only (the EHR's JWKS URL) and never gets the private key (issue 18, item 11).
    signing = {"NEUROSCREEN_EHR_AUTH", "NEUROSCREEN_EHR_PRIVATE_KEY_FILE", "NEUROSCREEN_EHR_KEY_ID"}
    publishing = {"NEUROSCREEN_EHR_PUBLIC_KEYS_FILE", "NEUROSCREEN_EHR_KEY_ID"}
    for name, service in services.items():
        ehr = {key for key in service.get("environment", {}) if key.startswith("NEUROSCREEN_EHR_")}
        if name == "notify":
            assert {"NEUROSCREEN_EHR_BASE_URL", "NEUROSCREEN_EHR_TOKEN"} | signing <= ehr
            assert "NEUROSCREEN_EHR_CLIENT_SECRET" in ehr
            assert service["secrets"] == ["ehr-private-key"], name
        elif name == "notify-api":
            assert ehr == publishing, "the notify API gets the public keys, no EHR credentials"
            assert service["secrets"] == ["ehr-public-keys"], name
        else:
            assert not ehr, f"{name} must not hold EHR settings"
            assert "secrets" not in service, f"{name} must not mount the EHR signing key"
        assert "env_file" not in service, f"{name}: env_file would hand it every secret"


def test_sandbox_ehr_is_official_hapi_behind_a_profile(
    raw_compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    sandbox = services["ehr-sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    image, _, tag = sandbox["image"].partition(":")
    assert image == "hapiproject/hapi"
    assert re.fullmatch(r"v\d+\.\d+\.\d+(-\d+)?", tag), f"pin the HAPI tag, not {tag!r}"
    notify_url = raw_compose["services"]["notify"]["environment"]["NEUROSCREEN_EHR_BASE_URL"]
    assert notify_url == "${NEUROSCREEN_EHR_BASE_URL:-http://ehr-sandbox:8080/fhir}"
    # Only notify shares a network with the sandbox.
    sandbox_networks = set(sandbox["networks"])
    for name, service in services.items():
        if name not in {"notify", "ehr-sandbox"}:
            assert not sandbox_networks & set(service.get("networks", [])), name
    assert sandbox_networks & set(services["notify"]["networks"])
    mounted = sandbox["volumes"][0].split(":")[0]
    assert (ROOT / mounted).is_file(), mounted
    # An empty sandbox must accept alerts whose Patient/CareTeam it has never seen.
    hapi = json.loads(sandbox["environment"]["SPRING_APPLICATION_JSON"])["hapi"]["fhir"]
    assert hapi["fhir_version"] == "R4"
    assert hapi["enforce_referential_integrity_on_write"] is False


def test_datastores_persist_and_check_health(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    redis = services["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name, target in {"redis": "/data", "postgres": "/var/lib/postgresql/data"}.items():
        (volume,) = services[name]["volumes"]
        source, mount = volume.split(":")[:2]
        assert mount == target
        assert source in compose["volumes"], f"{name}: use a named volume"
    for name in ("postgres", "redis", "ehr-sandbox"):
        tag = services[name]["image"].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: pin the image tag"


def test_restart_policies_and_resource_limits(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        expected = "no" if name == "migrate" else "unless-stopped"
        assert service.get("restart") == expected, name
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name
        assert "replicas" not in service["deploy"], f"{name}: replicas fights --scale"


def test_app_containers_are_locked_down(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES | {"migrate"}:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["environment"]["NEUROSCREEN_DATA_DIR"] == "/var/lib/neuroscreen", name
        assert any(t.startswith("/var/lib/neuroscreen:") for t in service["tmpfs"]), name
        assert "backend" in service["networks"], name
    assert services["intake"]["environment"]["NEUROSCREEN_INTAKE_HOST"] == "0.0.0.0"
    assert services["notify-api"]["environment"]["NEUROSCREEN_NOTIFY_HOST"] == "0.0.0.0"


def test_worker_concurrency_is_bounded(services: dict[str, dict[str, Any]]) -> None:
    # Without it Celery forks one process per host CPU, not per container CPU.
    for name in WORKERS:
        assert int(services[name]["environment"]["CELERY_WORKER_CONCURRENCY"]) >= 1, name


# --- settings ------------------------------------------------------------------------


def code_env_names() -> set[str]:
    """NEUROSCREEN_* names the application code mentions (tests excluded)."""
    names: set[str] = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        names |= set(re.findall(r"\bNEUROSCREEN_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


def test_env_example_documents_every_setting() -> None:
    documented = env_file_documented(ENV_EXAMPLE)
    settings = set(settings_env_names())
    missing = sorted((settings | code_env_names()) - documented)
    assert not missing, f".env.example does not document {missing}"
    unknown = sorted(n for n in documented if n.startswith("NEUROSCREEN_") and n not in settings)
    assert not unknown, f".env.example documents settings that do not exist: {unknown}"
    text = ENV_EXAMPLE.read_text()
    for name in settings:
        # Each one has a line of explanation above it.
        assert re.search(rf"#[^\n]*[a-z][^\n]*\n(#[^\n]*\n)*#? ?{name}=", text), name


def test_every_compose_variable_is_documented() -> None:
    documented = env_file_documented(ENV_EXAMPLE)
    used = set(compose_variables(COMPOSE_PATH.read_text()))
    missing = sorted(used - documented)
    assert not missing, f".env.example does not document {missing}"


def test_compose_settings_are_real_settings(services: dict[str, dict[str, Any]]) -> None:
    settings = settings_env_names()
    for name, service in services.items():
        for key in service.get("environment", {}):
            if key.startswith("NEUROSCREEN_"):
                assert key in settings, f"{name}: {key} is not a field of shared/config.py"


def test_compose_defaults_agree_with_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_env_names()
    variables = compose_variables(COMPOSE_PATH.read_text())
    checked = 0
    for env_name, (operator, default) in variables.items():
        if env_name not in settings or env_name in COMPOSE_DEFAULT_DEVIATIONS:
            continue
        if operator not in {":-", "-"}:
            continue
        field = settings[env_name]
        unset = getattr(Settings(), field)  # the default, as resolved (e.g. EHR auth mode)
        monkeypatch.setenv(env_name, default)
        parsed = getattr(Settings(), field)
        monkeypatch.delenv(env_name)
        assert parsed == unset, (env_name, default)
        checked += 1
    assert checked >= 10


# --- the sandbox EHR's health check program -------------------------------------------


class _FhirHandler(BaseHTTPRequestHandler):
    status = 200
    body = b'{"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}'

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fhir_server() -> Iterator[tuple[str, type[_FhirHandler]]]:
    handler = type("Handler", (_FhirHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir/metadata", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK to run HealthCheck.java")
def test_sandbox_health_check_program(
    services: dict[str, dict[str, Any]], fhir_server: tuple[str, type[_FhirHandler]]
) -> None:
    url, handler = fhir_server
    source = ROOT / "deploy/compose/ehr-sandbox/HealthCheck.java"
    test = services["ehr-sandbox"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "java"] and test[-2] == "/healthcheck/HealthCheck.java"

    def run() -> int:
        return subprocess.run(
            ["java", "-Xmx64m", str(source), url], capture_output=True, timeout=120
        ).returncode

    assert run() == 0
    handler.status = 503
    assert run() == 1
    handler.status, handler.body = 200, b"<html>not FHIR</html>"
    assert run() == 1
