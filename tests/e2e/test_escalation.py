"""The closed loop on real processes and the Medplum test EHR: an urgent Task nobody
accepts by its (short, test-configured) due time is escalated exactly once, whatever
restarts; a Task a coordinator accepts is followed, shown, and never escalated. Notify
signs in with SMART Backend Services, registered with the default scopes only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from support.pipeline import (
    COORDINATOR,
    audit_ehr,
    create_patient,
    post_response,
    register_notify,
    smart_settings,
    wait_for_states,
)
from support.stack import TOKEN, Stack, wait_until

from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER, SCREENING_STATUS_EXTENSION

ESCALATION_LEAD = "PractitionerRole/neuro-lead"
URGENT_DUE_SECONDS = 8


@pytest.fixture
def loop(
    postgres_url: str, redis_url: str, ehr_with_token: EhrServer, tmp_path: Path
) -> Iterator[Stack]:
    stack = Stack.create(
        postgres_url,
        redis_url,
        tmp_path,
        ehr_base_url=ehr_with_token.base_url,
        **smart_settings(tmp_path),  # notify signs in with the default scopes, nothing more
        coordinator=COORDINATOR,
        escalation_recipient=ESCALATION_LEAD,
        task_due_urgent_seconds=str(URGENT_DUE_SECONDS),
        task_follow_up_interval_seconds="1",
        redeliver_after_seconds="4",  # the relay's scheduling tick: every 2 s
    )
    stack.start("intake")
    stack.start("relay")  # publishes the jobs and schedules the follow-up
    stack.start("screening")
    register_notify(ehr_with_token, stack)  # starts notify-api, which serves the JWKS
    stack.start("notify")
    yield stack
    stack.stop_all()


def escalations(ehr: EhrServer, response_id: str) -> list[dict[str, Any]]:
    value = f"{SCREENING_OUTPUT_IDENTIFIER}|escalation/{response_id}"
    return ehr.search("Communication", {"identifier": value})


def delivery_row(database_url: str, response_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as connection:
        cursor = connection.execute(
            "SELECT task_status, task_due_at, escalated_at, escalation_reference,"
            " escalation_recipient FROM delivery WHERE response_id = %s",
            (response_id,),
        )
        names = [column.name for column in cursor.description or []]
        row = cursor.fetchone()
        assert row is not None
        return dict(zip(names, row, strict=True))


def follow_up_runs(database_url: str) -> int:
    """The job's progress marker changes on every successful run."""
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT last_success_at FROM periodic_job").fetchone()
        return 0 if row is None or row[0] is None else int(row[0].timestamp() * 1000)


def wait_for_runs(database_url: str, runs: int) -> None:
    for _ in range(runs):
        before = follow_up_runs(database_url)
        wait_until(lambda b=before: follow_up_runs(database_url) != b, 30, "a follow-up run")


def screening_status(stack: Stack, response_id: str) -> dict[str, Any]:
    with stack.client() as api:
        resource = api.get(f"/QuestionnaireResponse/{response_id}").json()
    (status,) = [e for e in resource["extension"] if e["url"] == SCREENING_STATUS_EXTENSION]
    return {
        e["url"]: e.get("valueCode") or e.get("valueInstant") or e.get("valueReference")
        for e in status["extension"]
        if e["url"] != "ehrResource"
    }


def set_task_status(ehr: EhrServer, response_id: str, status: str) -> None:
    value = f"{SCREENING_OUTPUT_IDENTIFIER}|task/{response_id}"
    (task,) = ehr.search("Task", {"identifier": value})
    with ehr.client() as client:
        reply = client.put(f"/Task/{task['id']}", json={**task, "status": status})
        assert reply.status_code == 200, reply.text


def test_unaccepted_urgent_task_is_escalated_exactly_once(
    loop: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    response_id = post_response(loop, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"
    (task,) = ehr.search(
        "Task", {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|task/{response_id}"}
    )
    due = delivery_row(postgres_url, response_id)["task_due_at"]
    assert task["restriction"]["period"]["end"] == due.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert escalations(ehr, response_id) == []  # not before its due time

    wait_until(
        lambda: delivery_row(postgres_url, response_id)["escalated_at"], 60, "the escalation"
    )
    row = delivery_row(postgres_url, response_id)
    assert row["escalated_at"] >= due
    assert row["escalation_recipient"] == ESCALATION_LEAD
    (communication,) = escalations(ehr, response_id)
    assert row["escalation_reference"] == f"Communication/{communication['id']}"
    assert communication["recipient"] == [{"reference": ESCALATION_LEAD}]
    assert communication["about"] == [{"reference": f"Task/{task['id']}"}]
    assert communication["subject"] == {"reference": patient}
    assert communication["priority"] == "stat"

    # The job keeps running; then a restart, and a crash that lost our record of the
    # escalation after the EHR stored it: the conditional create finds the same one.
    wait_for_runs(postgres_url, 2)
    notify = next(key for key in loop.processes if key.startswith("notify-") and "api" not in key)
    loop.kill(notify)
    with psycopg.connect(postgres_url) as connection:
        connection.execute(
            "UPDATE delivery SET escalated_at = NULL, escalation_reference = NULL"
            " WHERE response_id = %s",
            (response_id,),
        )
    loop.start("notify")
    wait_until(lambda: delivery_row(postgres_url, response_id)["escalated_at"], 60, "re-escalation")
    wait_for_runs(postgres_url, 2)
    assert len(escalations(ehr, response_id)) == 1
    assert delivery_row(postgres_url, response_id)["escalation_reference"] == (
        f"Communication/{communication['id']}"
    )
    audit_ehr(ehr, [response_id])  # still one Task and one alert Communication

    # Visible to the EHR's users (screening-status), operators (admin API) and Prometheus.
    status = screening_status(loop, response_id)
    assert status["state"] == "notified"
    assert status["taskStatus"] == "requested"
    assert status["escalation"] == {"reference": f"Communication/{communication['id']}"}
    admin = httpx.Client(
        base_url=loop.notify_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    (listed,) = admin.get("/admin/deliveries").json()["deliveries"]
    assert listed["task"]["status"] == "requested"
    assert listed["escalation"]["reference"] == f"Communication/{communication['id']}"
    assert listed["escalation"]["recipient"] == ESCALATION_LEAD
    metrics = httpx.get(loop.notify_url + "/metrics").text
    assert "neuroscreen_escalations_total 1.0" in metrics
    assert "neuroscreen_escalations_pending 0.0" in metrics


def test_accepted_task_is_followed_and_never_escalated(
    loop: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    response_id = post_response(loop, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"
    set_task_status(ehr, response_id, "accepted")  # well before the due time
    wait_until(
        lambda: screening_status(loop, response_id).get("taskStatus") == "accepted",
        30,
        "the accepted status in screening-status",
    )
    due = delivery_row(postgres_url, response_id)["task_due_at"]
    wait_until(lambda: follow_up_runs(postgres_url) / 1000 > due.timestamp(), 60, "the due time")
    wait_for_runs(postgres_url, 2)
    assert escalations(ehr, response_id) == []
    assert delivery_row(postgres_url, response_id)["escalated_at"] is None

    set_task_status(ehr, response_id, "completed")
    wait_until(
        lambda: screening_status(loop, response_id).get("taskStatus") == "completed",
        30,
        "the completed status in screening-status",
    )
    assert delivery_row(postgres_url, response_id)["task_status"] == "completed"
    assert "escalation" not in screening_status(loop, response_id)
    metrics = httpx.get(loop.notify_url + "/metrics").text
    assert 'neuroscreen_alert_tasks{status="completed"} 1.0' in metrics
    assert "neuroscreen_escalations_total 0.0" in metrics
