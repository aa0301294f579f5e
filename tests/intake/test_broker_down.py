"""Accepted means stored: with the broker down the POST still succeeds,
and the job reaches the broker once it is back."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
import redis
from fixtures.responses import make_response
from support.redis_server import PrivateRedis
from support.services import _create_postgres_database, _drop_postgres_database
from support.stack import Stack, wait_until

from shared.migrate import upgrade


@pytest.fixture
def postgres_database(postgres_server: str):
    name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    yield url
    _drop_postgres_database(postgres_server, name)


def outbox_depth(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_response_accepted_while_broker_down_is_published_when_it_returns(
    postgres_database: str, tmp_path: Path
):
    broker = PrivateRedis(tmp_path)
    stack = Stack.create(postgres_database, broker.url, tmp_path)
    stack.start("intake")  # the broker has not started yet
    stack.start("relay")
    try:
        root = stack.base_url[: -len("/fhir")]
        # The intake only stores: it stays ready, and accepts, while the broker is down.
        assert httpx.get(root + "/readyz").status_code == 200
        with stack.client() as api:
            reply = api.post(
                "/QuestionnaireResponse",
                content=orjson.dumps(make_response({"burning": True, "age": 50})),
            )
            assert reply.status_code == 201
            response_id = reply.json()["id"]
            assert api.get(f"/QuestionnaireResponse/{response_id}").status_code == 200
        assert outbox_depth(postgres_database) == 1

        broker.start()
        wait_until(lambda: broker.queue_length("screening") == 1, 30, "the job in Redis")
        wait_until(lambda: outbox_depth(postgres_database) == 0, 10, "an empty outbox")
        assert httpx.get(root + "/readyz").status_code == 200
        message = orjson.loads(redis.Redis.from_url(broker.url).lindex("screening", 0))
        assert message["headers"]["task"] == "neuroscreen.screening.score_response"
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _args, kwargs, _embed = orjson.loads(body)
        assert kwargs == {"response_id": response_id}
    finally:
        stack.stop_all()
        broker.stop()
