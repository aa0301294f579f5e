"""Attack (issue 18, item 8): probing with no token, a forged one or one without the scope
left no trace, nor did reading the audit trail. Now every 401 and 403 is an AuditEvent with
BALP's outcome code 4 (minor failure: the request was refused as sent), the client (or
``unauthenticated`` and the peer address) and the rule broken; every read and search of the
trail is an AuditEvent too. On both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest
from fixtures.responses import make_response
from support.smart_stack import SmartStack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ADMIN = "system/neuroscreen.admin"


def since() -> str:
    return "ge" + datetime.now(UTC).replace(microsecond=0).isoformat()


def events(smart: SmartStack, **params: str) -> list[dict]:
    with smart.client(smart.token("ehr-full", ADMIN)) as admin:
        reply = admin.get("/AuditEvent", params={"_count": "200", **params})
    assert reply.status_code == 200, reply.text
    return [entry["resource"] for entry in reply.json().get("entry", [])]


def refusals(smart: SmartStack, start: str, **params: str) -> list[dict]:
    found = events(smart, date=start, **params)
    return [e for e in found if e["outcome"] == "4" and e.get("outcomeDesc", "")[:1] == "4"]


def test_no_token_and_a_forged_token_are_audited_as_unauthenticated(smart_each_database):
    smart = smart_each_database
    start = since()
    no_token = httpx.get(f"{smart.base_url}/Observation/probe-1")
    forged = httpx.get(
        f"{smart.base_url}/Observation",
        headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    )
    assert (no_token.status_code, forged.status_code) == (401, 401)
    found = refusals(smart, start, agent="unauthenticated", **{"entity-type": "Observation"})
    assert sorted(e["subtype"][0]["code"] for e in found) == ["read", "search-type"]
    for event in found:
        assert event["outcomeDesc"].startswith("401 ")
        client = event["agent"][0]
        assert client["who"]["identifier"]["value"] == "unauthenticated"
        assert client["network"] == {"address": "127.0.0.1", "type": "2"}


def test_a_token_without_the_scope_is_audited_with_its_client(smart_each_database):
    smart = smart_each_database
    start = since()
    with smart.client(smart.token("ehr-writer", "system/QuestionnaireResponse.c")) as api:
        assert api.get("/QuestionnaireResponse/someone-else").status_code == 403
        assert api.get("/AuditEvent").status_code == 403
        entry = {
            "resource": make_response({"age": 50}, patient="Patient/p"),
            "request": {"method": "GET", "url": "RiskAssessment?subject=Patient/p"},
        }
        batch = api.post(
            "/", content=orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": [entry]})
        )
        assert batch.json()["entry"][0]["response"]["status"] == "403"
    found = refusals(smart, start, agent="ehr-writer")
    described = {(e["subtype"][0]["code"], e["outcomeDesc"].split(" (")[0]) for e in found}
    assert (
        "read",
        "403 The token's scopes do not allow read on QuestionnaireResponse",
    ) in described
    assert (
        "search-type",
        "403 The token's scopes do not include system/neuroscreen.admin",
    ) in described
    assert any(kind == "batch" and "RiskAssessment" in text for kind, text in described)
    assert all(e["action"] in ("R", "E") for e in found)


def test_a_refused_cds_hooks_call_is_audited(smart_each_database):
    smart = smart_each_database
    start = since()
    cds = smart.base_url.removesuffix("/fhir") + "/cds-services/immune-neuropathy-screen"
    assert httpx.post(cds, json={"hook": "patient-view"}).status_code == 401
    found = refusals(smart, start, agent="unauthenticated")
    assert any(e["subtype"][0]["code"] == "operation" for e in found)


def test_reading_the_audit_trail_is_audited(smart_each_database):
    smart = smart_each_database
    start = since()
    with smart.client(smart.token("ehr-full", ADMIN)) as admin:
        searched = admin.get("/AuditEvent", params={"agent": "ehr-full"})
        one = searched.json()["entry"][0]["resource"]["id"]  # the token grant, at least
        assert admin.get(f"/AuditEvent/{one}").status_code == 200
    trail = events(smart, agent="ehr-full", date=start, **{"entity-type": "AuditEvent"})
    kinds = {e["subtype"][0]["code"] for e in trail}
    assert {"read", "search-type"} <= kinds
    read = next(e for e in trail if e["subtype"][0]["code"] == "read")
    assert read["entity"][0]["what"] == {"reference": f"AuditEvent/{one}"}
    assert read["outcome"] == "0" and read["action"] == "R"
    assert read["meta"]["profile"][0].endswith("IHE.BasicAudit.Read")
    search = next(e for e in trail if e["subtype"][0]["code"] == "search-type")
    assert search["entity"][0]["description"] == "search parameters: agent"
