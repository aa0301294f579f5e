"""What a create may tell its caller about a response already stored, and how it is audited.

A create must never become a read (issue 18, item 1). ``If-None-Exist`` criteria
(header, or a batch/transaction entry's ``request.ifNoneExist``) are a search:
they need ``system/QuestionnaireResponse.s`` (403 otherwise) and are audited as a
search. When a create finds a stored response (one match, or an identifier
replay), FHIR R4 answers ``200 OK`` (http.html#ccreate: "One Match: the server
ignores the post and returns 200 OK"); the match itself (body, ``Location``,
``ETag``) is given only to a token that may read the type. Any other token gets
an informational OperationOutcome that says one exists, and nothing of it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from intake import audit
from intake.responses import CreateOutcome
from intake.search import parse_query_string
from intake.smart.principals import Principal
from shared.fhir.outcome import information

RESOURCE_TYPE = "QuestionnaireResponse"
NOT_READABLE = (
    "A matching QuestionnaireResponse is already stored; nothing was created. The token's "
    "scopes do not allow reading it (needs system/QuestionnaireResponse.r)"
)


def require_scopes(principal: Principal, if_none_exist: str | None) -> None:
    """403 unless the token may create, and search too when the create has criteria."""
    principal.require(RESOURCE_TYPE, "c")
    if if_none_exist:
        principal.require(RESOURCE_TYPE, "s")


def shows_match(principal: Principal, outcome: CreateOutcome) -> bool:
    """True if the answer may carry the stored resource (always, for a new one)."""
    return outcome.created or principal.grants.allows(RESOURCE_TYPE, "r")


def existing_unreadable() -> dict[str, object]:
    """The body of a ``200 OK`` when the caller may not read the match."""
    return information(NOT_READABLE)


def record_audit(
    session: Session, principal: Principal, outcome: CreateOutcome, if_none_exist: str | None
) -> None:
    """A search event for the criteria (with the match's patient), a create event if stored.

    An identifier replay without criteria stays a create event: the caller sent the
    response itself, so nothing was found for it that it did not already hold.
    """
    record = outcome.record
    if if_none_exist:
        audit.record_access(
            session,
            client_id=principal.client_id,
            interaction="search-type",
            resource_type=RESOURCE_TYPE,
            patients=[None if outcome.created else record.patient],
            parameters=[name for name, _ in parse_query_string(if_none_exist)],
        )
        if not outcome.created:
            return
    audit.record_access(
        session,
        client_id=principal.client_id,
        interaction="create",
        resource_type=RESOURCE_TYPE,
        resource_id=record.id,
        patients=[record.patient],
    )
