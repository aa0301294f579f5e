"""Backoff per tier, on a fake clock: an urgent alert is retried at least every 30 s and
pages once when it is still undelivered after 10 minutes; other tiers back off to 600 s."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response

from intake.responses import create_response
from intake.validation import validate_questionnaire_response
from notify import delivery as delivery_module
from notify import opening as opening_module
from notify import retries as retries_module
from notify.delivery import deliver
from notify.ehr_client import EhrClient, TransientEhrError
from notify.retries import backoff_seconds
from notify.routing import load_routing
from screening.scoring import score
from shared.config import Settings, get_settings
from shared.db import session_scope
from shared.models import Delivery, QuestionnaireResponseRecord

pytestmark = pytest.mark.usefixtures("configured")

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def failing_write(*_args, **_kwargs):
    raise TransientEhrError("EHR answered 503", status=503)


def scored_response() -> str:
    resource = make_response(EGPA_FOOT_DROP, patient="Patient/p1", identifier=("urn:x", "b1"))
    with session_scope() as session:
        record = create_response(
            session, validate_questionnaire_response(orjson.dumps(resource))
        ).record
    with session_scope() as session:
        score(session, record.id)
    return record.id


def retry_waits(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, until: timedelta
) -> tuple[list[float], list[float]]:
    """Fail every attempt of one urgent alert until ``until`` has passed on the fake clock;
    each attempt runs when its retry is due. The waits, and when (since the alert) it paged."""
    clock = FakeClock()
    for module in (opening_module, delivery_module, retries_module):
        monkeypatch.setattr(module, "utcnow", clock)
    monkeypatch.setattr(delivery_module, "write_alert", failing_write)
    pages: list[float] = []

    class PageCounter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "event", None) == "urgent_alert_overdue":
                pages.append((clock.now - START).total_seconds())

    handler = PageCounter()
    logging.getLogger("neuroscreen.notify").addHandler(handler)
    response_id = scored_response()
    routing = load_routing(settings.coordinator, None)
    client = EhrClient("http://ehr.invalid/fhir", timeout=1)
    waits: list[float] = []
    try:
        while clock.now - START < until:
            deliver(session_scope, response_id, settings, routing, client)
            with session_scope() as session:
                delivery = session.get(Delivery, response_id)
                assert delivery.tier == "urgent"
                due = delivery.next_attempt_at.replace(tzinfo=UTC)
                state = session.get(QuestionnaireResponseRecord, response_id).state
            assert state == "retrying"
            waits.append((due - clock.now).total_seconds())
            clock.now = due
    finally:
        logging.getLogger("neuroscreen.notify").removeHandler(handler)
    return waits, pages


def test_an_urgent_alert_is_retried_every_30_s_at_most_and_pages_once_after_10_minutes(
    monkeypatch: pytest.MonkeyPatch,
):
    settings = get_settings()
    assert settings.retry_max_urgent_seconds == 30
    assert settings.urgent_delivery_deadline_seconds == 600
    waits, pages = retry_waits(monkeypatch, settings, timedelta(minutes=20))
    assert max(waits) <= 30
    assert waits[:4] == sorted(waits[:4])  # still exponential below the cap
    assert len(pages) == 1
    assert 600 < pages[0] <= 630  # paged by the first attempt past the deadline


def test_the_urgent_settings_move_the_cap_and_the_page(monkeypatch: pytest.MonkeyPatch):
    settings = get_settings().model_copy(
        update={"retry_max_urgent_seconds": 5.0, "urgent_delivery_deadline_seconds": 60.0}
    )
    waits, pages = retry_waits(monkeypatch, settings, timedelta(minutes=3))
    assert max(waits) <= 5
    assert len(pages) == 1 and 60 < pages[0] <= 65


def policy(**values) -> Settings:
    return Settings(intake_tokens=("t",), **values)


def test_other_tiers_keep_backing_off_to_the_common_cap():
    settings = policy()
    assert all(300 <= backoff_seconds(12, settings, None, tier="high") <= 600 for _ in range(20))
    assert all(15 <= backoff_seconds(12, settings, None, tier="urgent") <= 30 for _ in range(20))


def test_retry_after_is_honoured_up_to_the_tiers_cap():
    settings = policy(retry_base_seconds=1)
    assert backoff_seconds(1, settings, 120, tier="high") >= 120
    assert backoff_seconds(1, settings, 120, tier="urgent") == 30
