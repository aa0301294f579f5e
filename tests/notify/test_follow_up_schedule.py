"""Periodic jobs without Celery beat: the outbox relay publishes the follow-up once per
interval, however many relays run, with an empty payload, and again after a broker outage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from shared.db import session_scope
from shared.models import PeriodicJob
from shared.models.base import utcnow
from shared.outbox import OutboxRelay
from shared.tasks import FOLLOW_UP_TASKS, TaskRoute, periodic_jobs

pytestmark = pytest.mark.usefixtures("configured")


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.down = False

    def __call__(self, jobs: list[tuple[TaskRoute, dict]]) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.sent.extend((route.name, payload) for route, payload in jobs)


def relay(broker: RecordingBroker, interval: float = 60) -> OutboxRelay:
    return OutboxRelay(
        broker,
        redeliver_after_seconds=60,
        periodic={FOLLOW_UP_TASKS: interval},
    )


def make_due() -> None:
    with session_scope() as session:
        session.execute(update(PeriodicJob).values(next_run_at=utcnow() - timedelta(seconds=1)))


def test_the_follow_up_is_published_once_per_interval():
    broker = RecordingBroker()
    first, second = relay(broker), relay(broker)
    assert first.schedule_periodic() == 1  # a new job is due at once
    assert second.schedule_periodic() == 0  # another relay: already published
    assert first.schedule_periodic() == 0  # not again before the interval
    assert broker.sent == [(FOLLOW_UP_TASKS.name, {})]
    make_due()
    assert second.schedule_periodic() == 1
    assert len(broker.sent) == 2


def test_a_broker_outage_delays_the_job_and_loses_nothing():
    broker = RecordingBroker()
    broker.down = True
    scheduler = relay(broker)
    with pytest.raises(ConnectionError):
        scheduler.schedule_periodic()
    broker.down = False
    assert scheduler.schedule_periodic() == 1  # still due: published on the next tick
    assert broker.sent == [(FOLLOW_UP_TASKS.name, {})]


def test_the_relay_tick_schedules_it():
    broker = RecordingBroker()
    relay(broker).run_once()
    assert broker.sent == [(FOLLOW_UP_TASKS.name, {})]


def test_the_next_run_is_one_interval_later():
    broker = RecordingBroker()
    before = utcnow()
    relay(broker, interval=90).schedule_periodic()
    with session_scope() as session:
        job = session.get(PeriodicJob, FOLLOW_UP_TASKS.name)
        assert job is not None
        assert before + timedelta(seconds=89) < job.next_run_at < utcnow() + timedelta(seconds=91)


def test_the_interval_is_a_setting():
    from shared.config import Settings

    settings = Settings(intake_tokens=("t",), task_follow_up_interval_seconds=15)
    assert periodic_jobs(settings) == {FOLLOW_UP_TASKS: 15}
