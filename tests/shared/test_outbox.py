"""The transactional outbox on both databases (SQLite embedded default and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shared.db import session_scope
from shared.models import OutboxMessage, QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.outbox import OutboxRelay, enqueue
from shared.tasks import DELIVER_ALERT, SCORE_RESPONSE, TaskRoute

pytestmark = pytest.mark.usefixtures("configured")


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.down = False

        self.batches = 0

    def __call__(self, jobs: list[tuple[TaskRoute, dict]]) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.batches += 1
        self.sent.extend((route.name, payload) for route, payload in jobs)


def relay(broker: RecordingBroker, redeliver_after: float = 60) -> OutboxRelay:
    return OutboxRelay(broker, redeliver_after_seconds=redeliver_after)


def add_response(session, response_id: str, state: str = "received", due_minutes_ago: int = 0):
    now = utcnow()
    session.add(
        QuestionnaireResponseRecord(
            id=response_id,
            patient="Patient/p",
            content_hash="h",
            resource="{}",
            last_updated=now,
            state=state,
            state_changed_at=now,
            due_at=now - timedelta(minutes=due_minutes_ago),
        )
    )


def outbox_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_job_exists_only_if_its_transaction_committed():
    with pytest.raises(RuntimeError), session_scope() as session:
        add_response(session, "r1")
        enqueue(session, SCORE_RESPONSE, "r1")
        raise RuntimeError("request failed after the insert")
    assert outbox_count() == 0
    with session_scope() as session:
        add_response(session, "r1")
        enqueue(session, SCORE_RESPONSE, "r1")
    assert outbox_count() == 1


def test_relay_publishes_due_jobs_and_keeps_future_ones():
    broker = RecordingBroker()
    with session_scope() as session:
        enqueue(session, SCORE_RESPONSE, "now")
        enqueue(session, DELIVER_ALERT, "later", at=utcnow() + timedelta(hours=1))
    assert relay(broker).publish_due() == 1
    assert broker.sent == [(SCORE_RESPONSE.name, {"response_id": "now"})]
    assert outbox_count() == 1


def test_jobs_wait_while_the_broker_is_down():
    broker = RecordingBroker()
    broker.down = True
    with session_scope() as session:
        enqueue(session, SCORE_RESPONSE, "r1")
    with pytest.raises(ConnectionError):
        relay(broker).publish_due()
    assert outbox_count() == 1
    broker.down = False
    assert relay(broker).publish_due() == 1
    assert outbox_count() == 0


def test_overdue_work_is_enqueued_again_and_finished_work_is_not():
    with session_scope() as session:
        add_response(session, "stuck-received", "received", due_minutes_ago=10)
        add_response(session, "stuck-scored", "scored", due_minutes_ago=10)
        add_response(session, "fresh", "received", due_minutes_ago=0)
        add_response(session, "done", "notified", due_minutes_ago=10)
    broker = RecordingBroker()
    outbox_relay = relay(broker, redeliver_after=60)
    assert outbox_relay.recover_overdue() == 2
    outbox_relay.publish_due()
    assert sorted(broker.sent) == sorted(
        [
            (SCORE_RESPONSE.name, {"response_id": "stuck-received"}),
            (DELIVER_ALERT.name, {"response_id": "stuck-scored"}),
        ]
    )
    # Their clock restarted: not enqueued again on the next tick.
    assert outbox_relay.recover_overdue() == 0


def test_a_batch_reaches_the_broker_in_one_call():
    with session_scope() as session:
        for index in range(3):
            enqueue(session, SCORE_RESPONSE, f"r{index}")
    broker = RecordingBroker()
    assert relay(broker).publish_due() == 3
    assert broker.batches == 1
    assert [payload["response_id"] for _name, payload in broker.sent] == ["r0", "r1", "r2"]


def test_the_relay_sleeps_only_until_the_next_delayed_job():
    outbox_relay = relay(RecordingBroker())
    assert outbox_relay.seconds_until_next_due(5.0) == 5.0
    with session_scope() as session:
        enqueue(session, DELIVER_ALERT, "retry", at=utcnow() + timedelta(seconds=2))
    assert 1.0 < outbox_relay.seconds_until_next_due(5.0) <= 2.0
