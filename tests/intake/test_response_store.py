"""The create route's stores (``intake.store``), each on its own database: PostgreSQL's
one-statement path and the session path SQLite keeps behave alike, and a create is
stored, queued and audited together or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg
import pytest
from fixtures.responses import make_response
from sqlalchemy import select

from intake.smart.principals import Principal
from intake.store import PostgresStore, ResponseStore, open_store
from intake.validation import validate_questionnaire_response
from shared.config import get_settings
from shared.db import session_scope
from shared.fhir.outcome import Unprocessable
from shared.models import AuditEventRecord, OutboxMessage, QuestionnaireResponseRecord
from shared.outbox import NOTIFY_CHANNEL
from shared.trust.scopes import parse_scopes

pytestmark = pytest.mark.usefixtures("configured")


def validated(identifier: str | None = "qr-1", age: int = 50):
    resource = make_response(
        {"tingling": True, "age": age},
        patient="Patient/p1",
        identifier=("urn:sys", identifier) if identifier else None,
    )
    return validate_questionnaire_response(orjson.dumps(resource))


def with_store(work: Callable[[ResponseStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = await open_store(get_settings())
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def create(store: ResponseStore, response=None, client_id: str = "ehr-a"):
    principal = Principal(client_id, parse_scopes("system/QuestionnaireResponse.c"))
    return store.create(response or validated(), principal=principal, if_none_exist=None)


def stored() -> tuple[list[str], list[str], list[tuple[str, str | None, str]]]:
    """Response ids, the response ids of queued jobs, and (agent, patient, what) per event."""
    with session_scope() as session:
        responses = list(session.scalars(select(QuestionnaireResponseRecord.id)))
        jobs = [
            orjson.loads(p)["response_id"] for p in session.scalars(select(OutboxMessage.payload))
        ]
        events = [
            (e.agent, e.patient, orjson.loads(e.resource)["entity"][0]["what"]["reference"])
            for e in session.scalars(select(AuditEventRecord))
        ]
    return responses, jobs, events


def test_a_create_is_stored_queued_and_audited_together():
    outcome = with_store(create)
    assert outcome.created
    assert orjson.loads(outcome.record.resource)["id"] == outcome.record.id
    responses, jobs, events = stored()
    assert responses == jobs == [outcome.record.id]
    assert events == [("ehr-a", "Patient/p1", f"QuestionnaireResponse/{outcome.record.id}")]


def test_a_replay_is_answered_with_the_stored_response_and_audited_against_it():
    async def twice(store: ResponseStore):
        return await create(store), await create(store, client_id="ehr-b")

    first, again = with_store(twice)
    assert (first.created, again.created) == (True, False)
    assert again.record.id == first.record.id
    assert again.record.last_updated == first.record.last_updated
    assert again.record.state == "received"
    responses, jobs, events = stored()
    assert responses == jobs == [first.record.id]
    reference = f"QuestionnaireResponse/{first.record.id}"
    assert sorted(events) == [
        ("ehr-a", "Patient/p1", reference),
        ("ehr-b", "Patient/p1", reference),
    ]


def test_an_identifier_reused_for_other_answers_is_refused_and_nothing_written():
    async def reuse(store: ResponseStore):
        first = await create(store)
        with pytest.raises(Unprocessable):
            await create(store, validated(age=71))
        return first

    first = with_store(reuse)
    responses, jobs, events = stored()
    assert responses == jobs == [first.record.id]
    assert len(events) == 1


def test_concurrent_creates_of_one_response_store_it_once():
    async def together(store: ResponseStore):
        return await asyncio.gather(*(create(store) for _ in range(12)))

    outcomes = with_store(together)
    assert sum(o.created for o in outcomes) == 1
    assert len({o.record.id for o in outcomes}) == 1
    responses, jobs, events = stored()
    assert responses == jobs and len(responses) == 1
    assert len(events) == 12


def test_responses_without_identifier_are_each_stored(configured: str):
    async def two(store: ResponseStore):
        return [await create(store, validated(identifier=None)) for _ in range(2)]

    outcomes = with_store(two)
    assert all(o.created for o in outcomes)
    responses, jobs, _ = stored()
    assert sorted(responses) == sorted(jobs) == sorted(o.record.id for o in outcomes)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgresql_takes_the_one_statement_path_and_wakes_the_relay(configured: str):
    with psycopg.connect(configured, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

        async def work(store: ResponseStore):
            assert isinstance(store, PostgresStore)
            return await create(store)

        outcome = with_store(work)
        assert outcome.created
        # A hang detector, not a timing target: the notification was sent at commit.
        assert next(listener.notifies(timeout=10, stop_after=1)).channel == NOTIFY_CHANNEL


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_that_died_in_the_pool_is_replaced_without_failing_the_create(
    configured: str,
):
    def terminate_other_backends() -> int:
        with psycopg.connect(configured, autocommit=True) as admin:
            return admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            ).fetchone()[0]

    async def work(store: ResponseStore):
        first = await create(store, validated("before"))
        assert await asyncio.to_thread(terminate_other_backends) >= 1
        return first, await create(store, validated("after"))

    first, after = with_store(work)
    assert first.created and after.created
    responses, jobs, _ = stored()
    assert sorted(responses) == sorted(jobs) == sorted([first.record.id, after.record.id])
