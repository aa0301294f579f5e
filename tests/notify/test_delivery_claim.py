"""Claim, call, settle on both databases: no lock is held while the EHR is called, an expired
claim is claimed again, and a run that lost its claim records nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import orjson
import pytest
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from sqlalchemy import delete, func, select, update

from intake.responses import create_response
from intake.validation import validate_questionnaire_response
from notify import delivery as delivery_module
from notify.alert_writer import AlertWriteResult
from notify.delivery import claim_delivery, deliver, settle_delivery
from notify.ehr_client import EhrClient
from notify.routing import load_routing
from screening.scoring import score
from shared.config import get_settings
from shared.db import session_scope
from shared.models import Delivery, DeliveryAttempt, OutboxMessage, QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.outbox import OutboxRelay
from shared.tasks import DELIVER_ALERT

pytestmark = pytest.mark.usefixtures("configured")

DELIVERED = AlertWriteResult(references=("Task/1", "Communication/2"), refused=())


def scored_response(identifier: str) -> str:
    resource = make_response(EGPA_FOOT_DROP, patient="Patient/p1", identifier=("urn:x", identifier))
    with session_scope() as session:
        record = create_response(
            session, validate_questionnaire_response(orjson.dumps(resource))
        ).record
    with session_scope() as session:
        score(session, record.id)
    return record.id


def state_of(response_id: str) -> str:
    with session_scope() as session:
        return session.get(QuestionnaireResponseRecord, response_id).state


def claim(response_id: str):
    settings = get_settings()
    routing = load_routing(settings.coordinator, None)
    client = EhrClient("http://ehr.invalid/fhir", timeout=1)
    with session_scope() as session:
        return claim_delivery(session, response_id, settings, routing, client)


def attempts(response_id: str) -> int:
    with session_scope() as session:
        return session.scalar(
            select(func.count()).where(DeliveryAttempt.response_id == response_id)
        )


def test_a_slow_ehr_call_blocks_no_other_delivery(monkeypatch: pytest.MonkeyPatch):
    slow, other = scored_response("slow"), scored_response("other")
    in_call, release = threading.Event(), threading.Event()

    def slow_write(*_args, **_kwargs):
        in_call.set()
        release.wait(30)
        return DELIVERED

    monkeypatch.setattr(delivery_module, "write_alert", slow_write)
    settings = get_settings()
    routing = load_routing(settings.coordinator, None)
    client = EhrClient("http://ehr.invalid/fhir", timeout=1)
    worker = threading.Thread(target=deliver, args=(session_scope, slow, settings, routing, client))
    worker.start()
    try:
        assert in_call.wait(10)
        assert state_of(slow) == "sending"
        # While the EHR call hangs, another delivery claims, writes and settles at once.
        started = time.monotonic()
        monkeypatch.setattr(delivery_module, "write_alert", lambda *a, **k: DELIVERED)
        deliver(session_scope, other, settings, routing, client)
        assert time.monotonic() - started < 2.0
        assert state_of(other) == "notified"
    finally:
        release.set()
        worker.join(30)
    assert state_of(slow) == "notified"
    assert attempts(slow) == 1


def test_a_claimed_delivery_is_busy_until_its_lease_expires():
    response_id = scored_response("busy")
    first = claim(response_id)
    assert first is not None and first.token == 1
    assert claim(response_id) is None, "an unexpired claim admits no second writer"
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.response_id == response_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    second = claim(response_id)
    assert second is not None and second.token == 2


def test_a_settle_whose_claim_was_lost_records_nothing():
    response_id = scored_response("lost")
    first = claim(response_id)
    with session_scope() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.response_id == response_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    second = claim(response_id)
    settings = get_settings()
    with session_scope() as session:
        assert not settle_delivery(session, first, DELIVERED, 5, settings)
    assert state_of(response_id) == "sending"
    assert attempts(response_id) == 0
    with session_scope() as session:
        assert settle_delivery(session, second, DELIVERED, 5, settings)
    assert state_of(response_id) == "notified"
    assert attempts(response_id) == 1


def test_a_dead_runs_claim_is_recovered_and_claimed_again():
    response_id = scored_response("dead")
    claim(response_id)  # ... and the worker dies mid-call: nothing settles
    with session_scope() as session:
        session.execute(delete(OutboxMessage))
        past = utcnow() - timedelta(seconds=10)
        session.execute(
            update(Delivery).where(Delivery.response_id == response_id).values(next_attempt_at=past)
        )
        session.execute(
            update(QuestionnaireResponseRecord)
            .where(QuestionnaireResponseRecord.id == response_id)
            .values(due_at=past)
        )
    relay = OutboxRelay(lambda jobs: None, redeliver_after_seconds=1)
    assert relay.recover_overdue() == 1
    with session_scope() as session:
        (job,) = session.scalars(select(OutboxMessage)).all()
    assert job.task == DELIVER_ALERT.name
    again = claim(response_id)
    assert again is not None and again.token == 2
