"""A re-screen alerts only when the tier rose to the alert threshold, with the reason, in a
new alert round that notify sends under its own identifiers (both databases)."""

from __future__ import annotations

import orjson
import pytest
from fixtures.vignettes import MIXED_1_TO_2 as MIXED
from fixtures.vignettes import vignette_answers
from sqlalchemy import select
from support.scored import store_scored

from notify.alert_writer import AlertWriteResult
from notify.delivery import claim_delivery, settle_delivery
from notify.ehr_client import EhrClient
from notify.routing import load_routing
from screening.rescreen import report, run_to_end, start_run
from shared.config import get_settings
from shared.db import session_scope
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER
from shared.models import (
    Delivery,
    OutboxMessage,
    QuestionnaireResponseRecord,
    RescreenRun,
    Screening,
)
from shared.pipeline import ResponseState
from shared.tasks import DELIVER_ALERT

pytestmark = pytest.mark.usefixtures("configured")

RISEN_TO_ALERT = {
    # alert threshold moderate (the default): every rise ends at moderate or above here
    "g1-breathing-swallowing-alone": "re-screened under knowledge 2.0.0: tier rose from low to urgent",
    "diabetic-symmetric-feet": "re-screened under knowledge 2.0.0: tier rose from low to moderate",
    "g1-isolated-acute-foot-drop": "re-screened under knowledge 2.0.0: tier rose from moderate to high",
}


def client() -> EhrClient:
    return EhrClient("http://ehr.invalid/fhir", timeout=1)


def claim(response_id: str):
    settings = get_settings()
    with session_scope() as session:
        return claim_delivery(
            session, response_id, settings, load_routing(settings.coordinator, None), client()
        )


def deliver_first_round() -> None:
    """Every stored response through notify once (round 1), as if the EHR took each alert."""
    with session_scope() as session:
        ids = session.scalars(select(QuestionnaireResponseRecord.id)).all()
    for response_id in ids:
        found = claim(response_id)
        if found is not None:
            with session_scope() as session:
                result = AlertWriteResult(references=("Task/1",), refused=())
                settle_delivery(session, found, result, 5, get_settings())
    with session_scope() as session:
        session.execute(OutboxMessage.__table__.delete())


@pytest.fixture
def delivered(configured: str) -> None:
    answers = vignette_answers()
    with session_scope() as session:
        for case in MIXED:
            store_scored(session, case, answers[case], state=ResponseState.SCORED, version="1.0.0")
    deliver_first_round()
    with session_scope() as session:
        states = {r.id: r.state for r in session.scalars(select(QuestionnaireResponseRecord))}
    assert set(states.values()) == {"notified", "no-alert"}


def apply(version: str = "2.0.0") -> dict:
    with session_scope() as session:
        run_id = start_run(session, version, dry_run=False, chain=False).id
    run_to_end(session_scope, run_id, batch_size=4)
    with session_scope() as session:
        return report(session, session.get(RescreenRun, run_id))


@pytest.mark.usefixtures("delivered")
def test_only_responses_whose_tier_rose_to_alerting_go_back_to_notify_with_the_reason():
    result = apply()
    assert sorted(result["alerts"]) == sorted(RISEN_TO_ALERT)
    with session_scope() as session:
        records = {r.id: r for r in session.scalars(select(QuestionnaireResponseRecord))}
        screenings = {s.response_id: s for s in session.scalars(select(Screening))}
        jobs = [
            orjson.loads(m.payload)["response_id"]
            for m in session.scalars(select(OutboxMessage))
            if m.task == DELIVER_ALERT.name
        ]
    assert sorted(jobs) == sorted(RISEN_TO_ALERT)
    for case in MIXED:
        if case in RISEN_TO_ALERT:
            assert records[case].state == "scored"
            assert records[case].state_detail == RISEN_TO_ALERT[case]
            assert (screenings[case].alert_round, screenings[case].alert_reason) == (
                2,
                RISEN_TO_ALERT[case],
            )
        else:  # unchanged or fallen: nothing sent, the old alert stands
            assert records[case].state in ("notified", "no-alert")
            assert screenings[case].alert_round == 1


@pytest.mark.usefixtures("delivered")
def test_notify_sends_the_new_round_as_a_new_task_that_says_why():
    apply()
    case = "g1-breathing-swallowing-alone"
    found = claim(case)
    assert found is not None
    entries = {e["resource"]["resourceType"]: e for e in found.bundle["entry"]}
    task = entries["Task"]["resource"]
    assert task["identifier"][0] == {
        "system": SCREENING_OUTPUT_IDENTIFIER,
        "value": f"task/{case}/v2",
    }
    assert task["priority"] == "stat"
    assert task["reasonCode"]["text"] == RISEN_TO_ALERT[case]
    message = entries["Communication"]["resource"]["payload"][0]["contentString"]
    assert "Re-screened under knowledge 2.0.0: tier rose from low to urgent." in message
    assert entries["Communication"]["request"]["ifNoneExist"].endswith(f"communication/{case}/v2")
    # The new assessment goes as a new resource; the response itself is the same one.
    assert entries["RiskAssessment"]["request"]["ifNoneExist"].endswith("/v2")
    assert not entries["QuestionnaireResponse"]["request"]["ifNoneExist"].endswith("/v2")
    with session_scope() as session:
        delivery = session.get(Delivery, case)
        assert (delivery.alert_round, delivery.tier, delivery.state) == (2, "urgent", "sending")


@pytest.mark.usefixtures("delivered")
def test_a_fallen_tier_alerts_no_one_and_a_second_apply_sends_nothing_again():
    apply()
    with session_scope() as session:
        session.execute(OutboxMessage.__table__.delete())
    again = apply()
    assert again["alerts"] == []
    with session_scope() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        fallen = session.get(QuestionnaireResponseRecord, "g2-asthma-and-polyps-not-high")
        assert fallen.state == "notified"


@pytest.mark.usefixtures("delivered")
def test_a_dry_run_names_the_responses_that_would_alert_and_sends_nothing():
    with session_scope() as session:
        run_id = start_run(session, "2.0.0", dry_run=True, chain=False).id
    run_to_end(session_scope, run_id, batch_size=4)
    with session_scope() as session:
        result = report(session, session.get(RescreenRun, run_id))
        assert session.scalars(select(OutboxMessage)).all() == []
    assert sorted(result["alerts"]) == sorted(RISEN_TO_ALERT)
