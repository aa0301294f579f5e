"""Attack (issue 18, item 7): a static token reads the audit trail, and ``dev-token`` works in
production. Now a static token carries only its configured scopes (by default no admin), and a
production intake with a development token does not start. On both databases."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fixtures.responses import make_response
from support.services import _create_postgres_database, _drop_postgres_database
from support.stack import BIN, ROOT, TOKEN, Stack

from shared.migrate import upgrade

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def default_scopes_intake(
    request: pytest.FixtureRequest,
    postgres_server: str,
    redis_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """An intake whose static token has no configured scopes (the default)."""
    tmp = Path(tmp_path_factory.mktemp(f"static-{request.param}"))
    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/neuroscreen.sqlite"
    else:
        name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    stack = Stack.create(url, redis_server, tmp, intake_token_scopes="")
    stack.start("intake")
    yield stack
    stack.stop_all()
    if name:
        _drop_postgres_database(postgres_server, name)


def test_a_static_token_is_not_admin_by_default(default_scopes_intake: Stack):
    with default_scopes_intake.client() as api:
        resource = make_response(
            {"burning": True, "age": 50},
            patient="Patient/static-1",
            identifier=("urn:test:static", uuid.uuid4().hex),
        )
        created = api.post("/QuestionnaireResponse", content=orjson.dumps(resource))
        assert created.status_code == 201, created.text
        assert api.get(f"/QuestionnaireResponse/{created.json()['id']}").status_code == 200
        refused = api.get("/AuditEvent")
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert "system/neuroscreen.admin" in refused.headers["www-authenticate"]


@pytest.mark.parametrize("token", ["dev-token", "short-but-secret", "REPLACE-ME"])
def test_a_production_intake_refuses_to_start_with_a_development_token(tmp_path, token):
    env = {
        "PATH": "/usr/bin:/bin",
        "NEUROSCREEN_ENV": "production",
        "NEUROSCREEN_INTAKE_TOKENS": token,
        "NEUROSCREEN_PUBLIC_BASE_URL": "https://neuroscreen.example.org/fhir",
        "NEUROSCREEN_DATA_DIR": str(tmp_path),
    }
    started = subprocess.run(
        [str(BIN / "neuroscreen-intake")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    output = started.stdout + started.stderr
    assert "NEUROSCREEN_ENV=production refuses to start" in output
    assert "NEUROSCREEN_INTAKE_TOKENS" in output
    if token != "REPLACE-ME":
        assert token not in output  # the secret itself is never printed
    assert TOKEN not in output
