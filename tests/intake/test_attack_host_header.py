"""Attack (issue 18, item 11): with no public base URL, a forged ``Host`` header chose the host
of ``Location``, ``fullUrl``, the SMART discovery document and the access tokens' ``iss``/``aud``.
Now they name the bind address whatever the header says (production needs a public base URL).
On both databases."""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest
from fixtures.responses import make_response
from support.smart import token_request

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FORGED = {"Host": "attacker.example"}


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_links_and_tokens_ignore_a_forged_host_header(smart_each_database):
    smart = smart_each_database
    base = smart.base_url
    discovery = smart.client("unused").get("/.well-known/smart-configuration", headers=FORGED)
    assert discovery.json()["token_endpoint"] == f"{base}/auth/token"
    granted = token_request(base, smart.assertion("ehr-full"), "system/QuestionnaireResponse.crs")
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    assert claims(token)["iss"] == base and claims(token)["aud"] == base
    resource = make_response(
        {"burning": True, "age": 52},
        patient="Patient/host-1",
        identifier=("urn:test:host", uuid.uuid4().hex),
    )
    with smart.client(token) as api:
        created = api.post("/QuestionnaireResponse", content=orjson.dumps(resource), headers=FORGED)
        assert created.status_code == 201, created.text
        assert created.headers["location"].startswith(f"{base}/QuestionnaireResponse/")
        found = api.get(
            "/QuestionnaireResponse", params={"patient": "Patient/host-1"}, headers=FORGED
        ).json()
    assert "attacker.example" not in orjson.dumps(found).decode()
    assert found["entry"][0]["fullUrl"].startswith(base)
