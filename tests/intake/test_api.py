"""The intake's FHIR API as an EHR integrator uses it, over real HTTP to a uvicorn process."""

from __future__ import annotations

import uuid

import httpx
import orjson
from fixtures.responses import make_response
from support.stack import Stack

QR_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999"
STATUS_EXTENSION = "http://neuroscreen.org/fhir/StructureDefinition/screening-status"


def sample(patient: str | None = None, identifier: str | None = None) -> dict:
    return make_response(
        {"burning": True, "tingling": True, "numbness": True, "age": 54, "regions": ("left-foot",)},
        patient=patient or f"Patient/{uuid.uuid4().hex[:8]}",
        identifier=(QR_SYSTEM, identifier) if identifier else None,
    )


def post(api: httpx.Client, resource: dict, **headers: str) -> httpx.Response:
    return api.post("/QuestionnaireResponse", content=orjson.dumps(resource), headers=headers)


def test_metadata_is_public_and_lists_what_is_implemented(intake_stack: Stack):
    reply = httpx.get(intake_stack.base_url + "/metadata")
    assert reply.status_code == 200
    statement = reply.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    qr = by_type["QuestionnaireResponse"]
    assert {i["code"] for i in qr["interaction"]} == {"create", "read", "search-type"}
    assert qr["conditionalCreate"] is True
    assert {"patient", "subject", "identifier", "_lastUpdated"} <= {
        p["name"] for p in qr["searchParam"]
    }
    assert {i["code"] for i in rest["interaction"]} == {"batch", "transaction"}
    assert "Bearer" in rest["security"]["description"]


def test_questionnaire_by_id_and_by_canonical(api: httpx.Client):
    by_id = api.get("/Questionnaire/immune-neuropathy-screen").json()
    assert by_id["url"] == "http://neuroscreen.org/fhir/Questionnaire/immune-neuropathy-screen"
    assert by_id["version"] == "1.1.0"
    found = api.get("/Questionnaire", params={"url": by_id["url"]}).json()
    assert found["total"] == 1
    assert found["entry"][0]["resource"]["id"] == "immune-neuropathy-screen"
    for query in ({"url": by_id["url"] + "|1.1.0"}, {"url": by_id["url"], "version": "1.1.0"}):
        assert api.get("/Questionnaire", params=query).json()["total"] == 1
    # Only the current version is served; a 1.0.0 response still validates against it.
    assert api.get("/Questionnaire", params={"version": "1.0.0"}).json()["total"] == 0
    assert api.get("/Questionnaire", params={"url": "http://other/Q"}).json()["total"] == 0
    assert api.get("/Questionnaire/unknown").status_code == 404


def test_create_then_read_back(api: httpx.Client):
    resource = sample(identifier=uuid.uuid4().hex)
    reply = post(api, resource)
    assert reply.status_code == 201
    assert reply.headers["content-type"].startswith("application/fhir+json")
    created = reply.json()
    assert reply.headers["location"].endswith(f"/QuestionnaireResponse/{created['id']}/_history/1")
    assert reply.headers["etag"] == 'W/"1"'
    assert "GMT" in reply.headers["last-modified"]
    read = api.get(f"/QuestionnaireResponse/{created['id']}")
    assert read.status_code == 200
    body = read.json()
    assert body["item"] == resource["item"]
    assert body["subject"] == resource["subject"]
    assert body["meta"]["versionId"] == "1"
    status = next(e for e in body["extension"] if e["url"] == STATUS_EXTENSION)
    assert {"url": "state", "valueCode": "received"} in status["extension"]


def test_prefer_return_minimal_and_operation_outcome(api: httpx.Client):
    minimal = post(api, sample(), Prefer="return=minimal")
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "/QuestionnaireResponse/" in minimal.headers["location"]
    outcome = post(api, sample(), Prefer="return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"


def test_same_identifier_twice_is_stored_once(api: httpx.Client):
    identifier = uuid.uuid4().hex
    resource = sample(identifier=identifier)
    first, second = post(api, resource), post(api, resource)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    found = api.get("/QuestionnaireResponse", params={"identifier": f"{QR_SYSTEM}|{identifier}"})
    assert found.json()["total"] == 1


def test_identifier_reused_for_different_answers_is_refused(api: httpx.Client):
    identifier = uuid.uuid4().hex
    assert post(api, sample(identifier=identifier)).status_code == 201
    other = sample(identifier=identifier)
    other["item"] = make_response({"age": 30})["item"]
    reply = post(api, other)
    assert reply.status_code == 422
    assert reply.json()["issue"][0]["expression"] == ["QuestionnaireResponse.identifier"]


def test_conditional_create_if_none_exist(api: httpx.Client):
    patient = f"Patient/{uuid.uuid4().hex[:8]}"
    first = post(api, sample(patient=patient))
    assert first.status_code == 201
    match = post(api, sample(patient=patient), **{"If-None-Exist": f"patient={patient}"})
    assert match.status_code == 200
    assert match.json()["id"] == first.json()["id"]
    # A second response for the patient, created without the condition...
    assert post(api, sample(patient=patient)).status_code == 201
    # ...makes the same condition ambiguous: 412 Precondition Failed.
    several = post(api, sample(patient=patient), **{"If-None-Exist": f"patient={patient}"})
    assert several.status_code == 412
    assert several.json()["resourceType"] == "OperationOutcome"


def test_search_by_patient_subject_identifier_and_paging(api: httpx.Client):
    patient = f"Patient/{uuid.uuid4().hex[:8]}"
    ids = [
        post(api, sample(patient=patient, identifier=uuid.uuid4().hex)).json()["id"]
        for _ in range(5)
    ]
    page = api.get("/QuestionnaireResponse", params={"patient": patient, "_count": 2}).json()
    assert page["type"] == "searchset"
    assert page["total"] == 5
    assert len(page["entry"]) == 2
    seen = [e["resource"]["id"] for e in page["entry"]]
    while next_link := next((l["url"] for l in page["link"] if l["relation"] == "next"), None):
        page = httpx.get(next_link, headers=api.headers).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
    assert sorted(seen) == sorted(ids)
    by_subject = api.get("/QuestionnaireResponse", params={"subject": patient}).json()
    assert by_subject["total"] == 5
    bare_id = api.get("/QuestionnaireResponse", params={"patient": patient.split("/")[1]}).json()
    assert bare_id["total"] == 5


def test_search_by_last_updated(api: httpx.Client):
    patient = f"Patient/{uuid.uuid4().hex[:8]}"
    created = post(api, sample(patient=patient)).json()
    stamp = created["meta"]["lastUpdated"]
    day = stamp[:10]
    assert (
        api.get("/QuestionnaireResponse", params={"patient": patient, "_lastUpdated": day}).json()[
            "total"
        ]
        == 1
    )
    assert (
        api.get(
            "/QuestionnaireResponse", params={"patient": patient, "_lastUpdated": f"gt{day}"}
        ).json()["total"]
        == 0
    )
    assert (
        api.get(
            "/QuestionnaireResponse", params={"patient": patient, "_lastUpdated": "ge2020-01-01"}
        ).json()["total"]
        == 1
    )
    assert (
        api.get(
            "/QuestionnaireResponse", params={"patient": patient, "_lastUpdated": "lt2020-01-01"}
        ).json()["total"]
        == 0
    )


def test_batch_stores_good_entries_and_reports_bad_ones(api: httpx.Client):
    patient = f"Patient/{uuid.uuid4().hex[:8]}"
    bad = sample(patient=patient)
    bad["status"] = "in-progress"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": sample(patient=patient),
                "request": {"method": "POST", "url": "QuestionnaireResponse"},
            },
            {"resource": bad, "request": {"method": "POST", "url": "QuestionnaireResponse"}},
        ],
    }
    reply = api.post("", content=orjson.dumps(bundle))
    assert reply.status_code == 200
    body = reply.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses[0].startswith("201")
    assert statuses[1] == "422"
    issue = body["entry"][1]["response"]["outcome"]["issue"][0]
    assert issue["expression"][0].startswith("Bundle.entry[1].resource.status")
    assert api.get("/QuestionnaireResponse", params={"patient": patient}).json()["total"] == 1


def test_transaction_is_all_or_nothing(api: httpx.Client):
    patient = f"Patient/{uuid.uuid4().hex[:8]}"
    bad = sample(patient=patient)
    bad["item"][0]["item"][0]["answer"] = [{"valueString": "yes"}]
    entry = lambda r: {"resource": r, "request": {"method": "POST", "url": "QuestionnaireResponse"}}  # noqa: E731
    failing = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [entry(sample(patient=patient)), entry(bad)],
    }
    reply = api.post("", content=orjson.dumps(failing))
    assert reply.status_code in (400, 422)
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert api.get("/QuestionnaireResponse", params={"patient": patient}).json()["total"] == 0
    good = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [entry(sample(patient=patient)) for _ in range(3)],
    }
    reply = api.post("", content=orjson.dumps(good))
    assert reply.status_code == 200
    assert reply.json()["type"] == "transaction-response"
    assert all(e["response"]["status"] == "201 Created" for e in reply.json()["entry"])
    assert api.get("/QuestionnaireResponse", params={"patient": patient}).json()["total"] == 3


def test_health_readiness_and_metrics(intake_stack: Stack, api: httpx.Client):
    root = intake_stack.base_url[: -len("/fhir")]
    assert httpx.get(root + "/healthz").json()["status"] == "ok"
    ready = httpx.get(root + "/readyz").json()
    assert ready == {"status": "ready", "database": True}
    post(api, sample())
    metrics = httpx.get(root + "/metrics").text
    assert (
        'neuroscreen_http_requests_total{method="POST",route="/fhir/QuestionnaireResponse"'
        in metrics.replace('service="intake",', "")
    )
    assert "neuroscreen_outbox_depth" in metrics
    assert 'neuroscreen_responses{state="received"}' in metrics


def test_code_systems_resolve_every_project_code(api: httpx.Client):
    tiers = api.get("/CodeSystem/screening-tier").json()
    assert {c["code"] for c in tiers["concept"]} == {"urgent", "high", "moderate", "low"}
    by_url = api.get("/CodeSystem", params={"url": tiers["url"]}).json()
    assert by_url["total"] == 1
    assert api.get("/CodeSystem/unknown").status_code == 404
