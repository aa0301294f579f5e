"""The containers' commands and environment, run outside docker on local PostgreSQL and Redis.

Docker Engine does not run on development machines, so this is how the compose file is
proven to work: every NeuroScreen service is started with exactly the ``command`` and
``environment`` compose gives it, with only what docker itself would provide replaced —
service hostnames resolve to 127.0.0.1, each service gets a free host port, and the data
volume is a temporary directory. Then one response travels the whole way to the EHR.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import yaml
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from support.services import _create_postgres_database, _drop_postgres_database
from support.stack import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_SERVICES = ("intake", "relay", "screening", "notify", "notify-api")
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}")


def interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def replace(match: re.Match[str]) -> str:
        name, kind, argument = match.groups()
        if dotenv.get(name):
            return dotenv[name]
        if kind == "?":
            raise AssertionError(f"compose would refuse to start: {name}: {argument}")
        return argument if kind == "-" else ""

    return VARIABLE.sub(replace, value)


def container_environment(
    service: dict[str, Any],
    dotenv: dict[str, str],
    ports: dict[str, int],
    data_dir: Path,
    redis_url: str,
) -> dict[str, str]:
    env = {k: interpolate(str(v), dotenv) for k, v in (service.get("environment") or {}).items()}
    for key, value in env.items():
        # What docker's network and volumes would otherwise provide.
        value = value.replace("@postgres:5432", "@127.0.0.1:5432")
        value = value.replace("redis://redis:6379/0", redis_url)
        env[key] = value
    if "NEUROSCREEN_DATA_DIR" in env:
        env["NEUROSCREEN_DATA_DIR"] = str(data_dir)
    for setting, port in ports.items():
        if setting in env:
            env[setting] = str(port)
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEUROSCREEN_")}
    return {**base, **env, "PATH": f"{BIN}:{os.environ['PATH']}", "HOSTNAME": socket.gethostname()}


@pytest.fixture
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_containers_commands_run_one_response_end_to_end(
    compose: dict[str, Any], postgres_server: str, redis_url: str, ehr: EhrServer, tmp_path: Path
):
    name, database_url = _create_postgres_database(postgres_server)
    user = urlsplit(database_url).username or "postgres"
    dotenv = {  # what an operator's .env holds (see .env.example)
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "POSTGRES_DB": name,
        "NEUROSCREEN_INTAKE_TOKENS": "compose-token",
        "NEUROSCREEN_NOTIFY_TOKENS": "admin-token",
        "NEUROSCREEN_EHR_BASE_URL": ehr.base_url,
        "NEUROSCREEN_COORDINATOR": "CareTeam/compose-coordinators",
    }
    ports = {
        "NEUROSCREEN_INTAKE_PORT": free_port(),
        "NEUROSCREEN_NOTIFY_PORT": free_port(),
        "NEUROSCREEN_RELAY_METRICS_PORT": free_port(),
    }
    services = compose["services"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate = services["migrate"]
        env = container_environment(migrate, dotenv, ports, tmp_path, redis_url)
        subprocess.run(migrate["command"], env=env, check=True, cwd=tmp_path, timeout=120)
        environments = {}
        for service_name in APP_SERVICES:
            service = services[service_name]
            environments[service_name] = container_environment(
                service, dotenv, ports, tmp_path, redis_url
            )
            log = (tmp_path / f"{service_name}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    service["command"],
                    env=environments[service_name],
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        intake = f"http://127.0.0.1:{ports['NEUROSCREEN_INTAKE_PORT']}"
        wait_until(lambda: httpx.get(intake + "/readyz").status_code == 200, 60, "intake ready")

        resource = make_response(EGPA_FOOT_DROP, patient="Patient/compose-1")
        reply = httpx.post(
            intake + "/fhir/QuestionnaireResponse",
            content=orjson.dumps(resource),
            headers={
                "Authorization": "Bearer compose-token",
                "Content-Type": "application/fhir+json",
            },
        )
        assert reply.status_code == 201
        tasks = wait_until(
            lambda: ehr.search("Task", {"owner": "CareTeam/compose-coordinators"}), 90, "the Task"
        )
        assert len(tasks) == 1

        # Each service's own health check, run as docker would run it, passes.
        for service_name in APP_SERVICES:
            test = [
                part.replace("$$", "$")
                .replace(":8000/", f":{ports['NEUROSCREEN_INTAKE_PORT']}/")
                .replace(":8001/", f":{ports['NEUROSCREEN_NOTIFY_PORT']}/")
                for part in services[service_name]["healthcheck"]["test"]
            ]
            command = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
            result = subprocess.run(
                command,
                env=environments[service_name],
                cwd=tmp_path,
                timeout=60,
                capture_output=True,
            )
            assert result.returncode == 0, (service_name, result.stderr[-500:])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
        _drop_postgres_database(postgres_server, name)
