"""Delivery that loses nothing: a flaky, down or refusing EHR and a killed notify worker.

Each case ends with the same audit: every alerting response has exactly one Task
and one Communication in the EHR. The EHR is the unmodified Medplum with default
transaction settings (alerts are written in several transactions).
"""

from __future__ import annotations

import time

import httpx
import orjson
import psycopg
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from joserfc.jwk import RSAKey
from support.pipeline import (
    COORDINATOR,
    SMART_CLIENT_ID,
    audit_ehr,
    create_patient,
    post_response,
    read_state,
    register_notify,
    states,
    wait_for_states,
)
from support.stack import TOKEN, Stack, wait_until


def delivery_attempts(database_url: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT response_id, attempts FROM delivery WHERE response_id = ANY(%s)", (ids,)
        ).fetchall()
    return dict(rows)


def test_ehr_failing_30_percent_of_writes(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)  # before the faults start
    ehr_with_token.configure(fail_before=0.15, fail_after=0.15)
    ids = [post_response(pipeline, EGPA_FOOT_DROP, patient) for _ in range(10)]
    final = wait_for_states(postgres_url, ids, 120)
    assert set(final[i] for i in ids) == {"notified"}
    stats = ehr_with_token.stats()
    assert stats["failBefore"] + stats["failAfter"] > 0, "the fault injection never fired"
    audit_ehr(ehr_with_token, ids)


def test_ehr_down_for_a_while_then_back(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    ehr_with_token.configure(down=True)
    ids = [post_response(pipeline, EGPA_FOOT_DROP, patient) for _ in range(3)]
    wait_for_states(postgres_url, ids, 60, done=lambda s: s == "retrying")
    tried = delivery_attempts(postgres_url, ids)
    # While the EHR stays down, each alert is tried again and stays retrying (neither lost nor
    # dead-lettered): wait for that next round of attempts, not for a length of time.
    wait_until(
        lambda: all(n > tried[i] for i, n in delivery_attempts(postgres_url, ids).items()),
        30,
        "another attempt at each alert",
    )
    assert set(states(postgres_url)[i] for i in ids) == {"retrying"}
    ehr_with_token.configure(down=False)
    final = wait_for_states(postgres_url, ids, 90)
    assert set(final[i] for i in ids) == {"notified"}
    audit_ehr(ehr_with_token, ids)


def test_notify_worker_killed_mid_delivery(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    # Slow answers keep deliveries in flight; the EHR stores each write before answering.
    ehr_with_token.configure(delay_ms=1500)
    ids = [post_response(pipeline, EGPA_FOOT_DROP, patient) for _ in range(4)]
    wait_until(lambda: ehr_with_token.stats()["writes"] >= 1, 30, "a delivery in flight")
    notify = pipeline.key_of("notify")
    pipeline.kill(notify)
    ehr_with_token.configure(delay_ms=0)
    pipeline.start("notify")
    final = wait_for_states(postgres_url, ids, 120)
    assert set(final[i] for i in ids) == {"notified"}
    audit_ehr(ehr_with_token, ids)


def test_refused_sign_in_becomes_an_alarmed_dead_letter_and_replays_after_the_fix(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    # The EHR's registration now holds another key (a botched rotation): invalid_client.
    other_key = RSAKey.generate_key(2048).as_dict(private=False)
    ehr.register_client(SMART_CLIENT_ID, scope="system/*.cruds", jwks={"keys": [other_key]})
    response_id = post_response(pipeline, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "dead-letter"

    admin = httpx.Client(
        base_url=pipeline.notify_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert httpx.get(pipeline.notify_url + "/admin/dead-letters").status_code == 401
    listed = admin.get("/admin/dead-letters").json()["dead_letters"]
    assert [d["response_id"] for d in listed] == [response_id]
    detail = admin.get(f"/admin/dead-letters/{response_id}").json()
    assert detail["last_status"] == 400
    assert "invalid_client" in detail["last_error"]["error"]
    assert [a["outcome"] for a in detail["attempts"]] == ["auth-failed"]
    metrics = httpx.get(pipeline.notify_url + "/metrics").text
    assert "neuroscreen_dead_letters 1.0" in metrics
    assert 'neuroscreen_deliveries_total{outcome="auth-failed"} 1.0' in metrics
    # The alert asked once; the Task follow-up job signs in the same way and may ask too.
    assert set(ehr.smart()["stats"]["tokenErrors"]) == {"invalid_client"}

    register_notify(ehr, pipeline)  # the cause is fixed: the JWKS URL again
    assert admin.post(f"/admin/dead-letters/{response_id}/replay").status_code == 202
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"
    assert admin.get("/admin/dead-letters").json()["dead_letters"] == []
    audit_ehr(ehr, [response_id])


def test_tokens_expiring_and_revoked_mid_run_lose_and_duplicate_nothing(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    ehr.configure_smart(token_lifetime=2)  # expires several times while the alerts go out
    ehr.configure(fail_after=0.15)  # and some writes are stored but not acknowledged
    ids = []
    for index in range(12):
        ids.append(post_response(pipeline, EGPA_FOOT_DROP, patient))
        time.sleep(0.5)
        if index == 5:
            ehr.revoke_tokens()  # the EHR forgets every token: notify's next write gets 401
    final = wait_for_states(postgres_url, ids, 120)
    assert {final[i] for i in ids} == {"notified"}
    audit_ehr(ehr, ids)
    smart = ehr.smart()["stats"]
    assert smart["tokensIssued"] >= 3, "tokens were not refreshed"
    assert smart["tokenErrors"] == {}
    assert smart["forbidden"] == 0, "the default scopes do not cover what notify does"


def test_attachment_the_ehr_refuses_never_holds_up_the_alert(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    pipeline.stop(pipeline.key_of("notify"))  # the worker, not the notify API (the JWKS)
    pipeline.start("notify", NEUROSCREEN_PUBLIC_BASE_URL=pipeline.base_url)
    patient = create_patient(ehr_with_token)
    # Intake takes this response; Medplum refuses its copy (ext-1: an extension carries a
    # value or sub-extensions, never both). An urgent alert must not wait for that.
    response = make_response(EGPA_FOOT_DROP, patient=patient)
    response["extension"] = [
        {
            "url": "http://example.org/fhir/StructureDefinition/ehr-note",
            "valueString": "x",
            "extension": [{"url": "part", "valueString": "y"}],
        }
    ]
    with pipeline.client() as api:
        reply = api.post("/QuestionnaireResponse", content=orjson.dumps(response))
        assert reply.status_code == 201, reply.text
        response_id = reply.json()["id"]
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"
    audit_ehr(ehr_with_token, [response_id])
    assert ehr_with_token.search("QuestionnaireResponse") == []
    state, references = read_state(pipeline, response_id)
    assert state == "notified" and any(r.startswith("Task/") for r in references)

    # The alert cites NeuroScreen's copy of what the EHR refused, and that copy is there.
    (task,) = ehr_with_token.search("Task", {"owner": COORDINATOR})
    risk = ehr_with_token.read_reference(task["focus"]["reference"])
    copy_url = f"{pipeline.base_url}/QuestionnaireResponse/{response_id}"
    assert copy_url in [basis.get("reference") for basis in risk["basis"]]
    with pipeline.client() as api:
        assert api.get(copy_url).status_code == 200

    admin = httpx.Client(
        base_url=pipeline.notify_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    (listed,) = admin.get("/admin/deliveries").json()["deliveries"]
    assert (listed["state"], listed["tier"]) == ("notified", "urgent")
    assert listed["refused_attachments"] == [
        {
            "resource_type": "QuestionnaireResponse",
            "reference": f"QuestionnaireResponse/{response_id}",
            "http_status": 400,
        }
    ]
    detail = admin.get(f"/admin/deliveries/{response_id}").json()
    (refused,) = detail["refused_attachments"]
    assert refused["outcome"]["resourceType"] == "OperationOutcome"
    assert [a["outcome"] for a in detail["attempts"]] == ["delivered"]
    metrics = httpx.get(pipeline.notify_url + "/metrics").text
    assert (
        'neuroscreen_alert_attachments_refused_total{resource_type="QuestionnaireResponse"} 1.0'
        in metrics
    )
