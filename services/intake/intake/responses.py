"""Storing and finding QuestionnaireResponses.

Creating a response stores it and queues its screening in one transaction
(the outbox): once the caller's session commits, the response is both
durable and on its way. Functions here only add and flush; the router's
``session_scope`` owns the commit.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from intake.records import any_of, last_updated_clause, paged, patient_clause
from intake.search import (
    SearchQuery,
    is_fhir_id,
    parse_query_string,
    parse_search,
    token_value,
)
from intake.validation import ValidatedResponse
from shared.fhir.codes import SCREENING_STATUS_EXTENSION
from shared.fhir.outcome import BadRequest, Issue, NotFound, PreconditionFailed, Unprocessable
from shared.models import Delivery, QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.outbox import enqueue
from shared.pipeline import ResponseState, transition
from shared.tasks import SCORE_RESPONSE

SEARCH_PARAMETERS = {
    "_id": "token",
    "patient": "reference",
    "subject": "reference",
    "identifier": "token",
}


RESPONSE_COLUMNS = tuple(c.name for c in QuestionnaireResponseRecord.__table__.columns)
"""The ``questionnaire_response`` columns, in table order (the fields of :class:`ResponseRow`)."""


@dataclass(slots=True)
class ResponseRow:
    """A ``questionnaire_response`` row as plain values, not an ORM instance.

    Creates build one and insert it with a statement of their own (no unit of work), and
    answer from it; the PostgreSQL path also reads a replayed response back into one.
    """

    id: str
    version_id: int
    patient: str
    identifier_system: str | None
    identifier_value: str | None
    content_hash: str
    resource: str
    last_updated: datetime
    state: str
    state_detail: str | None
    state_changed_at: datetime
    due_at: datetime | None

    def values(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in RESPONSE_COLUMNS}


StoredResponse = QuestionnaireResponseRecord | ResponseRow


@dataclass(frozen=True)
class CreateOutcome:
    record: StoredResponse
    created: bool
    """False when an existing response matched (conditional create or a replay)."""
    resource: dict[str, Any] | None = None
    """The stored resource as built in memory (a new record): served without re-parsing."""


def create_response(
    session: Session, response: ValidatedResponse, *, if_none_exist: str | None = None
) -> CreateOutcome:
    """Store ``response`` and queue its screening, unless an equal one exists.

    ``If-None-Exist`` behaves as FHIR defines it (one match: return it; several:
    412). Independently, the EHR's ``identifier`` is the idempotency key: a
    replay of the same response is answered with the stored one, and a
    different response reusing an identifier is refused.
    """
    if if_none_exist:
        criteria = parse_search(parse_query_string(if_none_exist), SEARCH_PARAMETERS, strict=True)
        if not criteria.criteria and not criteria.last_updated:
            # No criteria would match every stored response.
            raise BadRequest("If-None-Exist needs search criteria, e.g. identifier=system|value")
        criteria.count = 2
        matches, _total = search_responses(session, criteria)
        if len(matches) > 1:
            raise PreconditionFailed("If-None-Exist matched more than one QuestionnaireResponse")
        if matches:
            return CreateOutcome(matches[0], created=False)
    content_hash = content_hash_of(response.resource)
    record, resource = new_response(response, content_hash)
    if not _insert_unless_duplicate(session, record):
        # The identifier is taken: by a replay of this response, or by another one.
        existing = _by_identifier(session, response.identifier)
        if existing is None:
            raise RuntimeError("insert ignored without a duplicate identifier")
        return replay(existing, content_hash)
    enqueue(session, SCORE_RESPONSE, record.id)
    return CreateOutcome(record, created=True, resource=resource)


def read_response(session: Session, response_id: str) -> QuestionnaireResponseRecord:
    record = (
        session.get(QuestionnaireResponseRecord, response_id) if is_fhir_id(response_id) else None
    )
    if record is None:
        raise NotFound(f"QuestionnaireResponse/{response_id} is not known")
    return record


def search_responses(
    session: Session, query: SearchQuery
) -> tuple[list[QuestionnaireResponseRecord], int]:
    return paged(session, _search_statement(query), QuestionnaireResponseRecord, query)


def served_resource(
    record: StoredResponse,
    delivery: Delivery | None = None,
    resource: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored resource plus the pipeline status extension (see README: Status).

    ``resource`` is the stored resource when the caller still holds it in memory (a
    create): the response is then serialised once, never parsed back from storage.
    """
    resource = dict(resource) if resource is not None else orjson.loads(record.resource)
    status: list[dict[str, Any]] = [
        {"url": "state", "valueCode": record.state},
        {"url": "changed", "valueInstant": _instant(record.state_changed_at)},
    ]
    if record.state_detail:
        status.append({"url": "detail", "valueString": record.state_detail})
    if delivery is not None and delivery.ehr_references:
        for reference in orjson.loads(delivery.ehr_references):
            status.append({"url": "ehrResource", "valueReference": {"reference": reference}})
    if delivery is not None:
        status.extend(_task_follow_up(delivery))
    resource["extension"] = [
        *[e for e in resource.get("extension", []) if e.get("url") != SCREENING_STATUS_EXTENSION],
        {"url": SCREENING_STATUS_EXTENSION, "extension": status},
    ]
    return resource


def _task_follow_up(delivery: Delivery) -> list[dict[str, Any]]:
    """The closed loop: the Task's due time, its status in the EHR as last seen by notify's
    follow-up (absent until seen), and the escalation Communication if there was one."""
    status: list[dict[str, Any]] = []
    if delivery.task_due_at is not None and delivery.ehr_references:
        status.append({"url": "taskDue", "valueInstant": _instant(delivery.task_due_at)})
    if delivery.task_status:
        status.append({"url": "taskStatus", "valueCode": delivery.task_status})
    if delivery.escalation_reference:
        reference = {"reference": delivery.escalation_reference}
        status.append({"url": "escalation", "valueReference": reference})
    return status


def _insert_unless_duplicate(session: Session, record: ResponseRow) -> bool:
    """Insert ``record`` unless its identifier is taken; True if it was inserted.

    One ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite alike) is the hot
    path of a create in a session: no look-up before it, no savepoint around it, and a
    concurrent duplicate is settled by the unique index rather than by an error.
    """
    connection = session.connection()
    table = QuestionnaireResponseRecord.__table__
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    # On the table, not the ORM class: same SQL, without the ORM bulk-insert machinery.
    statement = insert(table).values(record.values()).on_conflict_do_nothing().returning(table.c.id)
    return connection.execute(statement).first() is not None


def _search_statement(query: SearchQuery) -> Select[Any]:
    model = QuestionnaireResponseRecord
    statement = select(model)
    for name, values in query.criteria.items():
        if name in ("patient", "subject"):
            statement = statement.where(patient_clause(model.patient, values))
        elif name == "_id":
            statement = statement.where(model.id.in_([v for x in values for v in x.split(",")]))
        elif name == "identifier":
            for value in values:
                statement = statement.where(
                    any_of([_identifier_clause(v) for v in value.split(",")])
                )
    for bound in query.last_updated:
        statement = statement.where(last_updated_clause(model.last_updated, bound))
    return statement


def _identifier_clause(value: str) -> Any:
    model = QuestionnaireResponseRecord
    system, code = token_value(value)
    clause = model.identifier_value == code
    if system is not None:
        clause = clause & (model.identifier_system == system)
    return clause


def _by_identifier(
    session: Session, identifier: tuple[str | None, str] | None
) -> QuestionnaireResponseRecord | None:
    if identifier is None:
        return None
    system, value = identifier
    return session.scalar(
        select(QuestionnaireResponseRecord).where(
            QuestionnaireResponseRecord.identifier_value == value,
            QuestionnaireResponseRecord.identifier_system == (system or ""),
        )
    )


def replay(existing: StoredResponse, content_hash: str) -> CreateOutcome:
    """The answer to a create whose identifier ``existing`` already holds: it, or 422."""
    if existing.content_hash != content_hash:
        raise Unprocessable(
            issues=[
                Issue(
                    code="duplicate",
                    diagnostics="Another QuestionnaireResponse already uses this identifier",
                    expression="QuestionnaireResponse.identifier",
                )
            ]
        )
    return CreateOutcome(existing, created=False)


def new_record(response: ValidatedResponse, *, due_at: datetime | None = None) -> ResponseRow:
    """The row a create would store (``$import`` stores many at once); ``due_at``: when
    its screening job counts as overdue (default now)."""
    return new_response(response, content_hash_of(response.resource), due_at)[0]


def new_response(
    response: ValidatedResponse, content_hash: str, due_at: datetime | None = None
) -> tuple[ResponseRow, dict[str, Any]]:
    """The row to insert for ``response`` and the resource it serves (our ``id`` and ``meta``)."""
    now = utcnow()
    response_id = str(uuid.uuid4())
    resource = dict(response.resource)
    resource["id"] = response_id
    resource["meta"] = {
        **resource.get("meta", {}),
        "versionId": "1",
        "lastUpdated": _instant(now),
    }
    system, value = response.identifier or (None, None)
    record = ResponseRow(
        id=response_id,
        version_id=1,
        patient=response.patient_reference,
        identifier_system=(system or "") if value is not None else None,
        identifier_value=value,
        content_hash=content_hash,
        resource=orjson.dumps(resource).decode(),
        last_updated=now,
        state="",
        state_detail=None,
        state_changed_at=now,
        due_at=None,
    )
    transition(record, ResponseState.RECEIVED, None, now=now, due_at=due_at)
    return record, resource


def content_hash_of(resource: dict[str, Any]) -> str:
    # Server-assigned elements do not make a replay a different response.
    content = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
