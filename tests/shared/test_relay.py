"""The relay process's parts on PostgreSQL: woken by NOTIFY at commit, several replicas safe,
and batches that reach Redis as Celery task messages the workers consume."""

from __future__ import annotations

import base64
import time

import orjson
import psycopg
import pytest
import redis

from shared.db import session_scope
from shared.outbox import NOTIFY_CHANNEL, OutboxRelay, enqueue
from shared.relay.publisher import celery_batch_publisher
from shared.relay.wakeup import PostgresNotifications
from shared.tasks import DELIVER_ALERT, SCORE_RESPONSE, TaskRoute


@pytest.fixture
def on_postgres(monkeypatch: pytest.MonkeyPatch, postgres_url: str, tmp_path):
    from support.services import reset_caches

    monkeypatch.setenv("NEUROSCREEN_DATABASE_URL", postgres_url)
    monkeypatch.setenv("NEUROSCREEN_DATA_DIR", str(tmp_path))
    reset_caches()
    yield postgres_url
    reset_caches()


def test_notify_is_sent_at_commit_and_never_for_a_rollback(on_postgres: str):
    with psycopg.connect(on_postgres, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with pytest.raises(RuntimeError), session_scope() as session:
            enqueue(session, SCORE_RESPONSE, "rolled-back")
            raise RuntimeError("request failed")
        assert list(listener.notifies(timeout=0.5)) == []
        with session_scope() as session:
            enqueue(session, SCORE_RESPONSE, "committed")
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]


def test_the_relay_wakes_on_commit_without_waiting_for_a_poll(on_postgres: str):
    wakeup = PostgresNotifications(on_postgres, fallback_interval=1.0)
    try:
        wakeup.wait(10)  # first call: connects and LISTENs, returns at once
        with session_scope() as session:
            enqueue(session, SCORE_RESPONSE, "r1")
        started = time.monotonic()
        wakeup.wait(10)
        assert time.monotonic() - started < 1.0
    finally:
        wakeup.close()


def test_two_relays_never_publish_the_same_row(on_postgres: str):
    with session_scope() as session:
        for index in range(5):
            enqueue(session, SCORE_RESPONSE, f"r{index}")
    sent: list[str] = []
    second_saw: list[int] = []

    def second(jobs: list[tuple[TaskRoute, dict]]) -> None:
        sent.extend(p["response_id"] for _r, p in jobs)

    second_relay = OutboxRelay(second, redeliver_after_seconds=60)

    def first(jobs: list[tuple[TaskRoute, dict]]) -> None:
        # While the first relay holds its batch, a second replica finds nothing to take.
        second_saw.append(second_relay.publish_due())
        sent.extend(p["response_id"] for _r, p in jobs)

    assert OutboxRelay(first, redeliver_after_seconds=60).publish_due() == 5
    assert second_saw == [0]
    assert sorted(sent) == [f"r{i}" for i in range(5)]
    assert second_relay.publish_due() == 0


def test_a_batch_lands_in_redis_as_celery_task_messages(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path
):
    from support.services import reset_caches

    monkeypatch.setenv("NEUROSCREEN_BROKER_URL", redis_url)
    monkeypatch.setenv("NEUROSCREEN_DATA_DIR", str(tmp_path))
    reset_caches()
    try:
        celery_batch_publisher()(
            [
                (SCORE_RESPONSE, {"response_id": "a"}),
                (DELIVER_ALERT, {"response_id": "b"}),
                (SCORE_RESPONSE, {"response_id": "c"}),
            ]
        )
    finally:
        reset_caches()
    client = redis.Redis.from_url(redis_url)

    def jobs(queue: str) -> list[tuple[str, dict]]:
        found = []
        for raw in reversed(client.lrange(queue, 0, -1)):  # LPUSH: oldest last
            message = orjson.loads(raw)
            body = message["body"]
            if message["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            _args, kwargs, _embed = orjson.loads(body)
            found.append((message["headers"]["task"], kwargs))
        return found

    assert jobs("screening") == [
        (SCORE_RESPONSE.name, {"response_id": "a"}),
        (SCORE_RESPONSE.name, {"response_id": "c"}),
    ]
    assert jobs("notify") == [(DELIVER_ALERT.name, {"response_id": "b"})]
