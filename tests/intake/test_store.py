"""Storing responses on both databases: idempotency, conditional create, one job per response."""

from __future__ import annotations

import orjson
import pytest
from fixtures.responses import make_response
from sqlalchemy import func, select

from intake.responses import create_response, search_responses
from intake.search import SearchQuery
from intake.validation import validate_questionnaire_response
from shared.db import session_scope
from shared.fhir.outcome import PreconditionFailed, Unprocessable
from shared.models import OutboxMessage, QuestionnaireResponseRecord

pytestmark = pytest.mark.usefixtures("configured")


def validated(identifier: str | None = None, patient: str = "Patient/p1", age: int = 50):
    resource = make_response(
        {"tingling": True, "age": age},
        patient=patient,
        identifier=("urn:sys", identifier) if identifier else None,
    )
    return validate_questionnaire_response(orjson.dumps(resource))


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_create_stores_the_response_and_one_job():
    with session_scope() as session:
        outcome = create_response(session, validated("a"))
    assert outcome.created
    assert count(QuestionnaireResponseRecord) == 1
    assert count(OutboxMessage) == 1


def test_replay_with_same_identifier_stores_nothing_new():
    with session_scope() as session:
        first = create_response(session, validated("a"))
    with session_scope() as session:
        again = create_response(session, validated("a"))
    assert not again.created
    assert again.record.id == first.record.id
    assert count(QuestionnaireResponseRecord) == 1
    assert count(OutboxMessage) == 1


def test_identifier_reused_with_other_answers_is_refused():
    with session_scope() as session:
        create_response(session, validated("a", age=50))
    with pytest.raises(Unprocessable), session_scope() as session:
        create_response(session, validated("a", age=51))
    assert count(QuestionnaireResponseRecord) == 1


def test_if_none_exist_returns_the_single_match_and_refuses_several():
    with session_scope() as session:
        first = create_response(session, validated(patient="Patient/x"))
    with session_scope() as session:
        match = create_response(session, validated(patient="Patient/x"), if_none_exist="patient=x")
    assert match.record.id == first.record.id
    assert not match.created
    with session_scope() as session:
        create_response(session, validated(patient="Patient/x"))
    with pytest.raises(PreconditionFailed), session_scope() as session:
        create_response(session, validated(patient="Patient/x"), if_none_exist="patient=x")


def test_search_is_newest_first_and_paged():
    for index in range(3):
        with session_scope() as session:
            create_response(session, validated(str(index)))
    with session_scope() as session:
        records, total = search_responses(session, SearchQuery(count=2))
    assert total == 3
    assert [r.identifier_value for r in records] == ["2", "1"]
