"""Tests of the test EHR itself (tests/ehr/server.mjs via tests/ehr_server.py).

They pin down the behaviour NeuroScreen's notify tests rely on: transactions with conditional
creates and urn:uuid references, all-or-nothing rollback, validation, search, auth and faults.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ehr_server
import httpx
import pytest
from ehr_server import EhrServer, EhrSetupError

pytestmark = pytest.mark.ehr

NS = "http://neuroscreen.org/fhir"
MRN_SYSTEM = "http://hospital.example.org/fhir/mrn"
PRACTITIONER = "Practitioner/dr-1"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
# How NeuroScreen says "this screen estimates no probability" so that ras-2 cannot misfire.
NO_PROBABILITY = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "unsupported",
        }
    ]
}


def screening_bundle(mrn: str = "MRN-1001", screening_id: str = "scr-1") -> dict[str, Any]:
    """The kind of transaction the notify service sends: a screening's QuestionnaireResponse,
    RiskAssessment, a review Task and an alert Communication for a (conditionally created)
    Patient, linked by urn:uuid placeholders, each entry idempotent through ifNoneExist."""
    ids = {name: f"urn:uuid:{uuid.uuid4()}" for name in ("patient", "qr", "ra", "task", "comm")}

    def entry(name: str, resource: dict[str, Any], if_none_exist: str) -> dict[str, Any]:
        rtype = resource["resourceType"]
        return {
            "fullUrl": ids[name],
            "resource": resource,
            "request": {"method": "POST", "url": rtype, "ifNoneExist": if_none_exist},
        }

    patient = {"reference": ids["patient"]}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(
                "patient",
                {
                    "resourceType": "Patient",
                    "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
                    "name": [{"family": "Doe", "given": ["Jane"]}],
                    "gender": "female",
                    "birthDate": "1961-04-12",
                },
                f"identifier={MRN_SYSTEM}|{mrn}",
            ),
            entry(
                "qr",
                {
                    "resourceType": "QuestionnaireResponse",
                    "identifier": {"system": f"{NS}/screening-response", "value": screening_id},
                    "questionnaire": f"{NS}/Questionnaire/neuropathy-screening",
                    "status": "completed",
                    "subject": patient,
                    "authored": "2025-03-01T10:15:00Z",
                    "item": [
                        {
                            "linkId": "progressive-weakness",
                            "text": "Progressive limb weakness over more than 8 weeks?",
                            "answer": [{"valueBoolean": True}],
                        }
                    ],
                },
                f"identifier={NS}/screening-response|{screening_id}",
            ),
            entry(
                "ra",
                {
                    "resourceType": "RiskAssessment",
                    "identifier": [{"system": f"{NS}/risk-assessment", "value": screening_id}],
                    "status": "final",
                    "subject": patient,
                    "occurrenceDateTime": "2025-03-01T10:16:00Z",
                    "basis": [{"reference": ids["qr"]}],
                    "prediction": [
                        {
                            "outcome": {"text": "Immune-mediated neuropathy (e.g. CIDP)"},
                            "qualitativeRisk": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/risk-probability",
                                        "code": "high",
                                        "display": "High likelihood",
                                    }
                                ]
                            },
                            "probabilityRange": NO_PROBABILITY,
                        }
                    ],
                },
                f"identifier={NS}/risk-assessment|{screening_id}",
            ),
            entry(
                "task",
                {
                    "resourceType": "Task",
                    "identifier": [{"system": f"{NS}/task-id", "value": screening_id}],
                    "status": "requested",
                    "intent": "order",
                    "priority": "stat",
                    "code": {
                        "coding": [{"system": f"{NS}/CodeSystem/tasks", "code": "review-screening"}]
                    },
                    "description": "Review positive neuropathy screening",
                    "for": patient,
                    "focus": {"reference": ids["ra"]},
                    "owner": {"reference": PRACTITIONER},
                    "authoredOn": "2025-03-01T10:16:00Z",
                },
                f"identifier={NS}/task-id|{screening_id}",
            ),
            entry(
                "comm",
                {
                    "resourceType": "Communication",
                    "identifier": [{"system": f"{NS}/communication-id", "value": screening_id}],
                    "status": "completed",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                                    "code": "alert",
                                }
                            ]
                        }
                    ],
                    "priority": "urgent",
                    "subject": patient,
                    "about": [{"reference": ids["ra"]}, {"reference": ids["task"]}],
                    "recipient": [{"reference": PRACTITIONER}],
                    "sent": "2025-03-01T10:16:30Z",
                    "payload": [
                        {"contentString": "Positive neuropathy screening: please review (Task)."}
                    ],
                },
                f"identifier={NS}/communication-id|{screening_id}",
            ),
        ],
    }


def post_bundle(client: httpx.Client, bundle: dict[str, Any]) -> httpx.Response:
    return client.post("", content=json.dumps(bundle), headers=FHIR_JSON)


def assert_operation_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


def stored(ehr: EhrServer) -> dict[str, int]:
    return ehr.stats()["resources"]


# -- transactions ---------------------------------------------------------------------------


def test_transaction_stores_resources_and_resolves_urn_uuid_references(ehr: EhrServer) -> None:
    with ehr.client() as client:
        response = post_bundle(client, screening_bundle())

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    result = response.json()
    assert result["type"] == "transaction-response"
    # Medplum's format: bare status code, location "Type/id" without _history.
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201"] * 5
    locations = [e["response"]["location"] for e in result["entry"]]
    patient_ref, qr_ref, ra_ref, task_ref, comm_ref = locations
    assert patient_ref.startswith("Patient/")
    assert [loc.split("/")[0] for loc in locations[1:]] == [
        "QuestionnaireResponse",
        "RiskAssessment",
        "Task",
        "Communication",
    ]
    assert stored(ehr) == {
        "Patient": 1,
        "QuestionnaireResponse": 1,
        "RiskAssessment": 1,
        "Task": 1,
        "Communication": 1,
    }

    qr = ehr.read_reference(qr_ref)
    ra = ehr.read_reference(ra_ref)
    task = ehr.read_reference(task_ref)
    comm = ehr.read_reference(comm_ref)
    assert qr is not None
    assert ra is not None
    assert task is not None
    assert comm is not None
    assert qr["subject"] == {"reference": patient_ref}
    assert ra["subject"] == {"reference": patient_ref}
    assert ra["basis"] == [{"reference": qr_ref}]
    assert task["for"] == {"reference": patient_ref}
    assert task["focus"] == {"reference": ra_ref}
    assert task["owner"] == {"reference": PRACTITIONER}
    assert comm["about"] == [{"reference": ra_ref}, {"reference": task_ref}]
    for resource in (qr, ra, task, comm):
        assert "urn:uuid:" not in json.dumps(resource)
        assert resource["meta"]["versionId"]

    # Reads through the real FHIR path too.
    with ehr.client() as client:
        read = client.get(task_ref)
    assert read.status_code == 200
    assert read.json()["code"]["coding"][0]["code"] == "review-screening"
    assert read.headers["etag"] == f'W/"{task["meta"]["versionId"]}"'


def test_posting_the_same_bundle_twice_creates_no_duplicates(ehr: EhrServer) -> None:
    bundle = screening_bundle()
    with ehr.client() as client:
        first = post_bundle(client, bundle)
        second = post_bundle(client, bundle)

    assert first.status_code == 200
    assert second.status_code == 200
    first_locations = [e["response"]["location"] for e in first.json()["entry"]]
    second_entries = second.json()["entry"]
    # A matched ifNoneExist answers 200 (not 201) with the existing resource's location.
    assert [e["response"]["status"] for e in second_entries] == ["200"] * 5
    assert [e["response"]["location"] for e in second_entries] == first_locations
    assert set(stored(ehr).values()) == {1}

    # Same screening again with fresh urn:uuids (a retry that rebuilt the bundle): same result.
    with ehr.client() as client:
        third = post_bundle(client, screening_bundle())
    assert [e["response"]["location"] for e in third.json()["entry"]] == first_locations
    assert set(stored(ehr).values()) == {1}


def test_transaction_with_one_invalid_entry_stores_nothing(ehr: EhrServer) -> None:
    bundle = screening_bundle()
    # The last create is processed after the other four were written: this tests rollback,
    # not just up-front validation.
    del bundle["entry"][-1]["resource"]["status"]

    with ehr.client() as client:
        response = post_bundle(client, bundle)

    body = assert_operation_outcome(response, 400)
    assert body["issue"][0]["expression"] == ["Communication.status"]
    assert stored(ehr) == {}
    assert ehr.search("Patient") == []
    assert ehr.stats()["rolledBack"] == 1


def test_failed_transaction_keeps_earlier_data_untouched(ehr: EhrServer) -> None:
    with ehr.client() as client:
        assert post_bundle(client, screening_bundle()).status_code == 200
        before = {rtype: ehr.search(rtype) for rtype in stored(ehr)}
        bad = screening_bundle(mrn="MRN-2002", screening_id="scr-2")
        bad["entry"][3]["resource"]["status"] = "not-a-task-status"  # required binding
        response = post_bundle(client, bad)

    assert_operation_outcome(response, 400)
    assert {rtype: ehr.search(rtype) for rtype in stored(ehr)} == before


def test_transaction_entry_without_method_stores_nothing(ehr: EhrServer) -> None:
    # Medplum 4.5.2 itself would answer 200 and commit the other entries.
    bundle = screening_bundle()
    del bundle["entry"][-1]["request"]["method"]
    with ehr.client() as client:
        response = post_bundle(client, bundle)
    body = assert_operation_outcome(response, 400)
    assert body["issue"][0]["expression"] == ["Bundle.entry[4].request.method"]
    assert stored(ehr) == {}


def test_concurrent_transactions_stay_isolated(ehr: EhrServer) -> None:
    def send(i: int) -> int:
        bundle = screening_bundle(mrn=f"MRN-{i}", screening_id=f"scr-{i}")
        if i % 2:
            bundle["entry"][-1]["resource"]["status"] = "sent-ish"  # invalid: rolled back
        with ehr.client() as client:
            return post_bundle(client, bundle).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(16)))

    assert statuses == [200, 400] * 8
    assert stored(ehr) == dict.fromkeys(
        ["Patient", "QuestionnaireResponse", "RiskAssessment", "Task", "Communication"], 8
    )
    values = sorted(t["identifier"][0]["value"] for t in ehr.search("Task"))
    assert values == sorted(f"scr-{i}" for i in range(0, 16, 2))


def test_transaction_rejects_unresolvable_urn_uuid_reference(ehr: EhrServer) -> None:
    bundle = screening_bundle()
    # Medplum only rewrites lower-case placeholders; an upper-case one would dangle.
    bundle["entry"][3]["resource"]["for"]["reference"] = f"urn:uuid:{uuid.uuid4()}".upper()
    with ehr.client() as client:
        response = post_bundle(client, bundle)
    body = assert_operation_outcome(response, 400)
    assert "Unresolved bundle-local reference" in body["issue"][0]["details"]["text"]
    assert stored(ehr) == {}


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Task", "status": "requested"}, "Task.intent"),  # missing required
        (
            {"resourceType": "Task", "status": "requested", "intent": "order", "colour": "red"},
            "Task.colour",  # unknown element
        ),
        (
            {
                "resourceType": "Task",
                "status": "requested",
                "intent": "order",
                "authoredOn": "today",
            },
            "Task.authoredOn",  # bad dateTime
        ),
        ({"resourceType": "Task", "status": "queued", "intent": "order"}, "Task.status"),
        (
            {"resourceType": "Communication", "status": "completed", "priority": "high"},
            "Communication.priority",  # not in request-priority
        ),
        (
            {"resourceType": "RiskAssessment", "status": "final", "subject": "Patient/p1"},
            "RiskAssessment.subject",  # string where a Reference is required
        ),
        (
            {
                "resourceType": "RiskAssessment",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "prediction": [{"outcome": {"text": "CIDP"}, "probabilityDecimal": 150}],
            },
            "RiskAssessment.prediction[0]",  # invariant ras-2: a probability is <= 100
        ),
        (
            {
                "resourceType": "RiskAssessment",
                "status": "final",
                "subject": {"reference": "Patient/p1"},
                "prediction": [{"outcome": {"text": "CIDP"}, "qualitativeRisk": {"text": "high"}}],
            },
            # Medplum's ras-2 misfires on a prediction without a probability: kept, never hidden.
            "RiskAssessment.prediction[0]",
        ),
    ],
)
def test_invalid_resource_is_rejected_with_400(
    ehr: EhrServer, resource: dict[str, Any], expression: str
) -> None:
    with ehr.client() as client:
        response = client.post(resource["resourceType"], json=resource, headers=FHIR_JSON)
    body = assert_operation_outcome(response, 400)
    expressions = [e for issue in body["issue"] for e in issue.get("expression", [])]
    assert any(e.startswith(expression) for e in expressions), body
    assert stored(ehr) == {}


def test_single_create_answers_201_with_location(ehr: EhrServer) -> None:
    task = screening_bundle()["entry"][3]["resource"] | {"for": {"reference": "Patient/p1"}}
    task["focus"] = {"reference": "RiskAssessment/ra1"}
    with ehr.client() as client:
        response = client.post("Task", json=task, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == (
        f"{ehr.base_url}/Task/{created['id']}/_history/{created['meta']['versionId']}"
    )


# -- search ---------------------------------------------------------------------------------


def test_search_by_owner_recipient_subject_and_identifier(ehr: EhrServer) -> None:
    with ehr.client() as client:
        first = post_bundle(client, screening_bundle("MRN-1", "scr-1")).json()
        post_bundle(client, screening_bundle("MRN-2", "scr-2"))
        patient_ref = first["entry"][0]["response"]["location"]

        tasks = client.get("Task", params={"owner": PRACTITIONER})
        assert tasks.status_code == 200
        assert tasks.json()["type"] == "searchset"
        assert tasks.json()["total"] == 2

    assert len(ehr.search("Task", {"owner": PRACTITIONER})) == 2
    assert ehr.search("Task", {"owner": "Practitioner/someone-else"}) == []
    assert len(ehr.search("Communication", {"recipient": PRACTITIONER})) == 2
    risk = ehr.search("RiskAssessment", {"subject": patient_ref})
    assert [r["identifier"][0]["value"] for r in risk] == ["scr-1"]
    task = ehr.search("Task", {"identifier": f"{NS}/task-id|scr-2"})
    assert [t["identifier"][0]["value"] for t in task] == ["scr-2"]
    assert ehr.search("Task", [("status", "requested"), ("priority", "stat")])


def test_unknown_search_parameter_is_rejected(ehr: EhrServer) -> None:
    # Medplum's MemoryRepository would silently match nothing; a typo must fail loudly.
    with ehr.client() as client:
        assert_operation_outcome(client.get("Task", params={"ownr": PRACTITIONER}), 400)
        bundle = screening_bundle()
        bundle["entry"][3]["request"]["ifNoneExist"] = "identifer=x|y"
        assert_operation_outcome(post_bundle(client, bundle), 400)
    assert stored(ehr) == {}


# -- auth and fault injection ---------------------------------------------------------------


def test_token_required_when_configured(ehr: EhrServer) -> None:
    ehr.configure(token="s3cret")
    with httpx.Client(base_url=ehr.base_url, trust_env=False) as anonymous:
        response = anonymous.get("Task")
        assert_operation_outcome(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = anonymous.get("Task", headers={"Authorization": "Bearer nope"})
        assert_operation_outcome(wrong, 401)
        assert_operation_outcome(post_bundle(anonymous, screening_bundle()), 401)
    with ehr.client() as client:  # ehr.token follows configure()
        assert client.get("Task").status_code == 200
        assert post_bundle(client, screening_bundle()).status_code == 200
    assert ehr.stats()["unauthorized"] == 3
    assert stored(ehr)["Task"] == 1


def test_fail_before_answers_503_and_stores_nothing(ehr: EhrServer) -> None:
    ehr.configure(fail_before=1.0)
    with ehr.client() as client:
        response = post_bundle(client, screening_bundle())
        assert_operation_outcome(response, 503)
        assert client.get("Task").status_code == 200  # reads are never failed
    stats = ehr.stats()
    assert stats["failBefore"] == 1
    assert stats["resources"] == {}


def test_fail_after_answers_503_but_stores(ehr: EhrServer) -> None:
    ehr.configure(fail_after=1.0)
    bundle = screening_bundle()
    with ehr.client() as client:
        assert_operation_outcome(post_bundle(client, bundle), 503)
        assert ehr.stats()["failAfter"] == 1
        assert len(ehr.search("Task", {"identifier": f"{NS}/task-id|scr-1"})) == 1

        # The client's retry after the lost acknowledgement must not duplicate anything.
        ehr.configure(fail_after=0.0)
        retry = post_bundle(client, bundle)
    assert retry.status_code == 200
    assert [e["response"]["status"] for e in retry.json()["entry"]] == ["200"] * 5
    assert set(stored(ehr).values()) == {1}


def test_down_answers_every_fhir_request_503(ehr: EhrServer) -> None:
    ehr.configure(down=True)
    with ehr.client() as client:
        assert_operation_outcome(client.get("metadata"), 503)
        assert_operation_outcome(post_bundle(client, screening_bundle()), 503)
    assert ehr.stats()["down"] == 2
    assert ehr.search("Task") == []  # inspection bypasses `down`
    ehr.configure(down=False)
    with ehr.client() as client:
        assert client.get("metadata").json()["fhirVersion"] == "4.0.1"


def test_delay_and_client_timeout_is_a_lost_acknowledgement(ehr: EhrServer) -> None:
    ehr.configure(delay_ms=400)
    with ehr.client() as client:
        started = time.monotonic()
        assert client.get("Task").status_code == 200
        assert time.monotonic() - started >= 0.4
    with ehr.client(timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
        post_bundle(impatient, screening_bundle())
    deadline = time.monotonic() + 5
    while not stored(ehr) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored(ehr)["Task"] == 1  # the write happened; only the answer was late


def test_stats_and_reset(ehr: EhrServer) -> None:
    ehr.configure(delay_ms=5)
    with ehr.client() as client:
        post_bundle(client, screening_bundle())
        client.get("Task")
    stats = ehr.stats()
    assert (stats["requests"], stats["writes"], stats["reads"]) == (2, 1, 1)
    assert stats["byStatus"] == {"200": 2}
    ehr.reset()
    stats = ehr.stats()
    assert (stats["requests"], stats["resources"]) == (0, {})
    with ehr.client() as client:
        assert client.get("metadata").status_code == 200
    assert ehr.stats()["requests"] == 1


def test_admin_config_rejects_bad_values(ehr: EhrServer) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        ehr.configure(fail_after=1.5)
    with pytest.raises(httpx.HTTPStatusError):
        ehr.configure(delay_ms=-1)


# -- own-process tests: CLI flags, seeds, shutdown ------------------------------------------


def test_cli_flags_token_and_seeded_fail_before_are_reproducible() -> None:
    with EhrServer(token="t0k", fail_before=0.5, seed=42) as server:

        def outcomes() -> list[int]:
            with server.client() as client:
                return [
                    client.post(
                        "Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON
                    ).status_code
                    for _ in range(20)
                ]

        with httpx.Client(base_url=server.base_url, trust_env=False) as anonymous:
            assert_operation_outcome(anonymous.get("Patient"), 401)
        first = outcomes()
        assert set(first) == {201, 503}
        assert server.stats()["resources"]["Patient"] == first.count(201)
        server.reset()  # also restarts the seeded random sequence
        assert outcomes() == first
    assert server.returncode is None  # stop() forgets the process


def test_stop_terminates_the_process_cleanly() -> None:
    server = EhrServer().start()
    proc = server._proc
    assert proc is not None
    server.stop()
    assert proc.returncode == 0  # SIGTERM handled: clean exit
    server.stop()  # idempotent


def test_missing_node_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ehr_server.shutil, "which", lambda _name: None)
    with pytest.raises(EhrSetupError, match="never skipped"):
        ehr_server.ensure_node_modules()
