"""``/fhir/AuditEvent``: the audit trail, read and searched with the admin scope only.

``GET /fhir/AuditEvent?date=&agent=&entity-type=&patient=``: ``date`` takes the
FHIR prefixes (``ge2026-11-01``), ``agent`` is a client id, ``entity-type`` the
type of the resource accessed (e.g. ``QuestionnaireResponse``), ``patient`` a
Patient reference. Newest first, paged like every search.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy import Select, select

from intake import audit
from intake.deps import PrincipalDep
from intake.fhir_response import FhirResponse
from intake.records import any_of, last_updated_clause, paged, patient_clause
from intake.rest import searchset, strict_handling
from intake.search import SearchQuery, is_fhir_id, parse_date, parse_search, token_value
from shared.db import session_scope
from shared.fhir.outcome import BadRequest, NotFound
from shared.models import AuditEventRecord
from shared.trust.scopes import ADMIN_SCOPE

router = APIRouter(prefix="/fhir/AuditEvent")

SEARCH_PARAMETERS = {
    "_id": "token",
    "date": "date",
    "agent": "token",
    "entity-type": "token",
    "patient": "reference",
}


@router.get("/{event_id}")
def read(event_id: str, principal: PrincipalDep) -> FhirResponse:
    principal.require_scope(ADMIN_SCOPE)
    with session_scope() as session:
        row = session.get(AuditEventRecord, event_id) if is_fhir_id(event_id) else None
        if row is None:
            raise NotFound(f"AuditEvent/{event_id} is not known")
        # Reading the trail is itself audited (issue 18, item 8).
        audit.record_access(
            session,
            client_id=principal.client_id,
            interaction="read",
            resource_type="AuditEvent",
            resource_id=row.id,
        )
        return FhirResponse(row.resource.encode())


@router.get("")
def search(request: Request, principal: PrincipalDep) -> FhirResponse:
    principal.require_scope(ADMIN_SCOPE)
    query = parse_search(
        list(request.query_params.multi_items()), SEARCH_PARAMETERS, strict=strict_handling(request)
    )
    with session_scope() as session:
        rows, total = paged(session, _statement(query), AuditEventRecord, query)
        events = [orjson.loads(row.resource) for row in rows]
        audit.record_access(
            session,
            client_id=principal.client_id,
            interaction="search-type",
            resource_type="AuditEvent",
            parameters=request.query_params.keys(),
        )
    return searchset(request, "AuditEvent", events, total, query)


def _statement(query: SearchQuery) -> Select[Any]:
    model = AuditEventRecord
    statement = select(model)
    for name, values in query.criteria.items():
        if name == "date":
            for value in values:
                bound = parse_date(value)
                if bound is None:
                    raise BadRequest(
                        "date must be a FHIR date or dateTime, with an optional prefix"
                    )
                statement = statement.where(last_updated_clause(model.recorded, bound))
        elif name == "patient":
            statement = statement.where(patient_clause(model.patient, values))
        elif name in ("agent", "entity-type", "_id"):
            column = {"agent": model.agent, "entity-type": model.entity_type, "_id": model.id}[name]
            for value in values:
                codes = [token_value(part)[1] for part in value.split(",")]
                statement = statement.where(any_of([column == code for code in codes]))
    return statement
