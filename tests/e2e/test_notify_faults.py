"""Delivery that loses nothing: a flaky, down or refusing EHR and a killed notify worker.

Each case ends with the same audit: every alerting response has exactly one Task
and one Communication in the EHR.
"""

from __future__ import annotations

import time

import httpx
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from support.pipeline import (
    EHR_TOKEN,
    audit_ehr,
    create_patient,
    post_response,
    states,
    wait_for_states,
)
from support.stack import TOKEN, Stack, wait_until


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
    time.sleep(3)
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
    notify = next(key for key in pipeline.processes if key.startswith("notify"))
    pipeline.kill(notify)
    ehr_with_token.configure(delay_ms=0)
    pipeline.start("notify")
    final = wait_for_states(postgres_url, ids, 120)
    assert set(final[i] for i in ids) == {"notified"}
    audit_ehr(ehr_with_token, ids)


def test_refused_alert_becomes_a_dead_letter_and_replays_after_the_fix(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    pipeline.start("notify-api")
    patient = create_patient(ehr_with_token)
    ehr_with_token.configure(token="rotated-token")  # our credentials no longer work: 401
    response_id = post_response(pipeline, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "dead-letter"

    admin = httpx.Client(
        base_url=pipeline.notify_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert httpx.get(pipeline.notify_url + "/admin/dead-letters").status_code == 401
    listed = admin.get("/admin/dead-letters").json()["dead_letters"]
    assert [d["response_id"] for d in listed] == [response_id]
    detail = admin.get(f"/admin/dead-letters/{response_id}").json()
    assert detail["last_status"] == 401
    assert detail["last_error"]["outcome"]["resourceType"] == "OperationOutcome"
    assert [a["outcome"] for a in detail["attempts"]] == ["fatal"]
    assert "neuroscreen_dead_letters 1.0" in httpx.get(pipeline.notify_url + "/metrics").text

    ehr_with_token.configure(token=EHR_TOKEN)  # the cause is fixed
    assert admin.post(f"/admin/dead-letters/{response_id}/replay").status_code == 202
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"
    assert admin.get("/admin/dead-letters").json()["dead_letters"] == []
    audit_ehr(ehr_with_token, [response_id])
