"""Fault injection with real processes on loopback. Each case ends with an audit: every
acknowledged response is stored and scored exactly once, and each alerting one has exactly
one Task and one Communication in the EHR."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP, NOTHING_WRONG
from fixtures.responses import make_response
from support.pipeline import (
    audit_ehr,
    create_patient,
    post_response,
    read_state,
    register_notify,
    smart_settings,
    states,
    wait_for_states,
)
from support.redis_server import PrivateRedis
from support.stack import Stack, wait_until
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def burst(stack: Stack, patient: str, count: int, accepted: list[str]) -> None:
    """POST ``count`` responses (every other one alerting), recording each 201/200."""
    for index in range(count):
        answers = EGPA_FOOT_DROP if index % 2 == 0 else NOTHING_WRONG
        accepted.append(post_response(stack, answers, patient))


def audit(database_url: str, ehr: EhrServer, accepted: list[str]) -> None:
    with psycopg.connect(database_url) as connection:
        stored = dict(connection.execute("SELECT id, state FROM questionnaire_response").fetchall())
        scored = dict(
            connection.execute("SELECT response_id, count(*) FROM screening GROUP BY 1").fetchall()
        )
        risks = dict(
            connection.execute(
                "SELECT response_id, count(*) FROM derived_resource "
                "WHERE resource_type = 'RiskAssessment' GROUP BY 1"
            ).fetchall()
        )
        tiers = dict(connection.execute("SELECT response_id, tier FROM screening").fetchall())
    assert set(accepted) <= set(stored), "an acknowledged response was lost"
    assert all(scored.get(i) == 1 and risks.get(i) == 1 for i in accepted)
    alerting = [i for i in accepted if tiers[i] in ("urgent", "high", "moderate")]
    assert alerting, "the burst had no alerting response"
    assert {stored[i] for i in alerting} == {"notified"}
    assert {stored[i] for i in accepted if i not in alerting} == {"no-alert"}
    audit_ehr(ehr, alerting)


def test_workers_killed_mid_burst_of_200(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    accepted: list[str] = []
    poster = threading.Thread(target=burst, args=(pipeline, patient, 200, accepted))
    poster.start()
    wait_until(lambda: len(accepted) >= 40, 60, "the burst to start")
    screening = next(k for k in pipeline.processes if k.startswith("screening"))
    pipeline.kill(screening)
    pipeline.start("screening")
    wait_until(lambda: "notified" in states(postgres_url).values(), 60, "a first alert")
    notify = pipeline.key_of("notify")
    pipeline.kill(notify)
    pipeline.start("notify")
    poster.join(120)
    assert len(accepted) == 200
    wait_for_states(postgres_url, accepted, 240)
    audit(postgres_url, ehr_with_token, accepted)


def test_redis_restarted_during_a_burst(
    postgres_url: str, ehr_with_token: EhrServer, tmp_path: Path
):
    # A Redis without persistence: a restart loses every queued job, the worst case.
    broker = PrivateRedis(tmp_path, appendonly=False)
    broker.start()
    stack = Stack.create(
        postgres_url,
        broker.url,
        tmp_path,
        ehr_base_url=ehr_with_token.base_url,
        **smart_settings(tmp_path),
        coordinator="Practitioner/c1",
        retry_base_seconds="0.5",
        retry_max_seconds="2",
        redeliver_after_seconds="5",
    )
    try:
        stack.start("intake")
        stack.start("relay")
        stack.start("screening")
        register_notify(ehr_with_token, stack)
        stack.start("notify")
        patient = create_patient(ehr_with_token)
        accepted: list[str] = []
        poster = threading.Thread(target=burst, args=(stack, patient, 60, accepted))
        poster.start()
        wait_until(lambda: len(accepted) >= 20, 60, "the burst to start")
        broker.stop()
        time.sleep(2)
        broker.start()
        poster.join(120)
        wait_for_states(postgres_url, accepted, 180)
        audit(postgres_url, ehr_with_token, accepted)
    finally:
        stack.stop_all()
        broker.stop()


def test_postgres_briefly_unreachable(
    postgres_url: str, redis_url: str, ehr_with_token: EhrServer, tmp_path: Path
):
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    stack = Stack.create(via_proxy, redis_url, tmp_path)
    try:
        stack.start("intake")
        with stack.client() as api:
            body = orjson.dumps(make_response({"burning": True, "age": 44}))
            before = api.post("/QuestionnaireResponse", content=body)
            assert before.status_code == 201
            proxy.cut()
            during = api.post("/QuestionnaireResponse", content=body)
            assert during.status_code == 503
            assert during.json()["resourceType"] == "OperationOutcome"
            assert during.headers["retry-after"]
            proxy.start()
            after = wait_until(
                lambda: (
                    (r := api.post("/QuestionnaireResponse", content=body)).status_code == 201 and r
                ),
                30,
                "the intake to recover",
            )
            assert api.get(f"/QuestionnaireResponse/{before.json()['id']}").status_code == 200
            assert api.get(f"/QuestionnaireResponse/{after.json()['id']}").status_code == 200
        stored = states(postgres_url)
        assert set(stored) == {before.json()["id"], after.json()["id"]}
    finally:
        stack.stop_all()
        proxy.cut()


def test_ehr_down_for_a_minute_then_back(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    ehr_with_token.configure(down=True)
    accepted: list[str] = []
    burst(pipeline, patient, 20, accepted)
    time.sleep(60)
    assert "notified" not in {states(postgres_url)[i] for i in accepted}
    ehr_with_token.configure(down=False)
    wait_for_states(postgres_url, accepted, 120)
    audit(postgres_url, ehr_with_token, accepted)


def test_poison_message_fails_visibly_without_blocking_the_queue(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    patient = create_patient(ehr_with_token)
    # With the worker stopped, store a response and corrupt its answers behind the intake's
    # back so that the engine raises on it; three good responses queue up behind it.
    screening = next(k for k in pipeline.processes if k.startswith("screening"))
    pipeline.stop(screening)
    poison = post_response(pipeline, EGPA_FOOT_DROP, patient)
    with psycopg.connect(postgres_url) as connection:
        connection.execute(
            "UPDATE questionnaire_response "
            "SET resource = jsonb_set(resource::jsonb, '{item}', '\"not a list\"')::text "
            "WHERE id = %s",
            (poison,),
        )
    behind = [post_response(pipeline, EGPA_FOOT_DROP, patient) for _ in range(3)]
    pipeline.start("screening")
    final = wait_for_states(postgres_url, [poison, *behind], 90)
    assert final[poison] == "failed"
    assert {final[i] for i in behind} == {"notified"}
    state, _ = read_state(pipeline, poison)
    assert state == "failed"
    # No endless retry loop: a response posted after it goes all the way through (the workers
    # have moved on, an event rather than a length of time) and the poison is still failed.
    after = post_response(pipeline, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [after], 90)[after] == "notified"
    assert states(postgres_url)[poison] == "failed"


def test_relay_killed_mid_burst(pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer):
    # A second replica runs beside the first (SKIP LOCKED); then both die, one after the
    # other, with batches in flight, and a fresh one takes over.
    pipeline.start("relay")
    patient = create_patient(ehr_with_token)
    accepted: list[str] = []
    poster = threading.Thread(target=burst, args=(pipeline, patient, 120, accepted))
    poster.start()
    wait_until(lambda: len(accepted) >= 30, 60, "the burst to start")
    for relay in [k for k in pipeline.processes if k.startswith("relay")]:
        pipeline.kill(relay)
        time.sleep(0.5)
    wait_until(lambda: len(accepted) >= 60, 60, "more responses while no relay runs")
    pipeline.start("relay")
    poster.join(120)
    assert len(accepted) == 120
    wait_for_states(postgres_url, accepted, 240)
    audit(postgres_url, ehr_with_token, accepted)


INTAKE_DOWN_SECONDS = float(os.environ.get("NEUROSCREEN_TEST_INTAKE_DOWN_SECONDS", "60"))
"""The intake's downtime: every accepted response must be alerted within it."""


def test_intake_down_alerts_for_accepted_responses_still_delivered(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    # Screening is held back so that every hand-off (screening -> notify) and every EHR
    # write happens while the intake is down.
    screening = next(k for k in pipeline.processes if k.startswith("screening"))
    pipeline.stop(screening)
    patient = create_patient(ehr_with_token)
    accepted: list[str] = []
    burst(pipeline, patient, 20, accepted)
    intake = next(k for k in pipeline.processes if k.startswith("intake"))
    pipeline.stop(intake)
    pipeline.start("screening")
    wait_for_states(postgres_url, accepted, INTAKE_DOWN_SECONDS)
    assert not any(k.startswith("intake") for k in pipeline.processes), "intake came back"
    audit(postgres_url, ehr_with_token, accepted)
