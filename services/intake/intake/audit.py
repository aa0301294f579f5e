"""The audit trail: a FHIR AuditEvent, shaped after IHE BALP, for every access to patient data.

Written for every create, read and search of patient data, every read and
search of the audit trail itself, every refused request (401, 403) and every
token grant or refusal. A write's event is inserted in the same transaction as the
change (the caller's session), so there is never a change without its event
or an event for a change that was rolled back. Events hold references only:
the client, the resource, the patient, never answers or query values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from shared.models import AuditEventRecord
from shared.models.base import utcnow

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
DCM = "http://dicom.nema.org/resources/ontology/DCM"
CLIENT_SYSTEM = "urn:neuroscreen:smart-client"
_REST = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"}
_LOGIN_TYPE = {"system": DCM, "code": "110114", "display": "User Authentication"}
_LOGIN = {"system": DCM, "code": "110122", "display": "Login"}
_ACTIONS = {"create": "C", "read": "R", "search-type": "E", "batch": "E", "operation": "E"}
# BALP profiles: Patient* when the event names a patient, the basic ones otherwise.
_PROFILES = {"create": "PatientCreate", "read": "PatientRead", "search-type": "PatientQuery"}
_BASIC_PROFILES = {"create": "Create", "read": "Read", "search-type": "Query"}
# AuditEvent.outcome (http://terminology.hl7.org/CodeSystem/audit-event-outcome, the codes
# BALP uses): 0 Success; 4 Minor failure, "often equivalent to an HTTP 400 response", for a
# request refused as sent (a 401 or 403, a refused token request). 8 and 12 are for the
# server's own failures, which are not audited here.
SUCCESS, REFUSED = "0", "4"
UNAUTHENTICATED = "unauthenticated"
"""The agent of a refusal before any client was verified (never a claimed, unverified id)."""
_INSERT = insert(AuditEventRecord.__table__)
# The parts every event shares, built once (the create path writes one event per request).
_SERVER_AGENT = {
    "type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
    "who": {"display": "NeuroScreen intake"},
    "requestor": False,
}
_SOURCE = {
    "observer": {"display": "NeuroScreen intake"},
    "type": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
            "code": "4",
            "display": "Application Server",
        }
    ],
}


def record_access(
    session: Session,
    *,
    client_id: str,
    interaction: str,
    resource_type: str,
    resource_id: str | None = None,
    patients: Iterable[str | None] = (None,),
    parameters: Iterable[str] = (),
) -> None:
    """One event per patient touched (BALP: a patient's events stand alone)."""
    events = access_events(
        client_id=client_id,
        interaction=interaction,
        resource_type=resource_type,
        resource_id=resource_id,
        patients=patients,
        parameters=parameters,
    )
    # One prepared Core insert with parameters: no statement built per call, no ORM.
    session.connection().execute(_INSERT, events)


def access_events(
    *,
    client_id: str,
    interaction: str,
    resource_type: str,
    resource_id: str | None = None,
    patients: Iterable[str | None] = (None,),
    parameters: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The ``audit_event`` rows :func:`record_access` writes, for a caller with its own SQL."""
    events = []
    for patient in dict.fromkeys(patients) or (None,):
        entities = [_data_entity(resource_type, resource_id, interaction, parameters)]
        if patient:
            entities.append(_patient_entity(patient))
        profile = (_PROFILES if patient else _BASIC_PROFILES)[interaction]
        events.append(
            _event(
                agent=client_id,
                action=_ACTIONS[interaction],
                outcome=SUCCESS,
                entity_type=resource_type,
                patient=patient,
                body={
                    "meta": {"profile": [BALP + profile]},
                    "type": _REST,
                    "subtype": [
                        {"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}
                    ],
                    "entity": entities,
                },
            )
        )
    return events


def record_token_request(session: Session, *, client_id: str, granted: bool, reason: str) -> None:
    """A token grant (outcome 0) or refusal (outcome 4); ``reason`` names the failed check."""
    body: dict[str, Any] = {"type": _LOGIN_TYPE, "subtype": [_LOGIN], "outcomeDesc": reason}
    _insert(
        session,
        agent=client_id,
        action="E",
        outcome=SUCCESS if granted else REFUSED,
        entity_type=None,
        patient=None,
        body=body,
    )


def record_refusal(
    session: Session,
    *,
    client_id: str | None,
    interaction: str,
    resource_type: str | None,
    reason: str,
    address: str | None,
) -> None:
    """A refused request (outcome 4): who (the verified client, else ``unauthenticated``
    with its network address), what it tried, and why (the status and the rule, no values)."""
    body: dict[str, Any] = {
        "type": _REST,
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "outcomeDesc": reason,
    }
    if interaction in _BASIC_PROFILES:
        body["meta"] = {"profile": [BALP + _BASIC_PROFILES[interaction]]}
    if resource_type:
        body["entity"] = [_data_entity(resource_type, None, interaction, ())]
    _insert(
        session,
        agent=client_id or UNAUTHENTICATED,
        action=_ACTIONS[interaction],
        outcome=REFUSED,
        entity_type=resource_type,
        patient=None,
        body=body,
        address=address,
    )


UNREGISTERED_CLIENTS = "(unregistered)"
"""The agent of the aggregate event for refusals of unregistered clients; the clients
file refuses a ``client_id`` in parentheses, so it is never a real client's."""


def record_unregistered_refusals(
    session: Session, *, count: int, first: datetime, last: datetime
) -> None:
    """One refused-login event for ``count`` token requests from unregistered clients
    (:mod:`intake.smart.refusals`); ``period`` says when they came."""
    body: dict[str, Any] = {
        "type": _LOGIN_TYPE,
        "subtype": [_LOGIN],
        "period": {"start": _instant(first), "end": _instant(last)},
        "outcomeDesc": f"{count} token requests from unregistered clients refused",
    }
    _insert(
        session,
        agent=UNREGISTERED_CLIENTS,
        action="E",
        outcome=REFUSED,
        entity_type=None,
        patient=None,
        body=body,
    )


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def purge_before(session: Session, cutoff: datetime) -> int:
    """Delete events recorded before ``cutoff`` (NEUROSCREEN_AUDIT_RETENTION_DAYS)."""
    table = AuditEventRecord.__table__
    return session.execute(delete(table).where(table.c.recorded < cutoff)).rowcount


def retention_cutoff(days: int) -> datetime:
    return utcnow() - timedelta(days=days)


def _insert(session: Session, **event: Any) -> None:
    # One prepared Core insert with parameters: no statement built per call, no ORM.
    session.connection().execute(_INSERT, _event(**event))


def _event(
    *,
    agent: str,
    action: str,
    outcome: str,
    entity_type: str | None,
    patient: str | None,
    body: dict[str, Any],
    address: str | None = None,
) -> dict[str, Any]:
    event_id = str(uuid.uuid4())
    recorded = utcnow()
    resource = {
        "resourceType": "AuditEvent",
        "id": event_id,
        **body,
        "action": action,
        "recorded": recorded.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": outcome,
        "agent": [_client_agent(agent, address), _SERVER_AGENT],
        "source": _SOURCE,
    }
    return {
        "id": event_id,
        "recorded": recorded,
        "agent": agent,
        "action": action,
        "outcome": outcome,
        "entity_type": entity_type,
        "patient": patient,
        "resource": orjson.dumps(resource).decode(),
    }


def _client_agent(client_id: str, address: str | None = None) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": {"identifier": {"system": CLIENT_SYSTEM, "value": client_id}},
        "requestor": True,
    }
    if address:
        agent["network"] = {"address": address, "type": "2"}  # 2: IP address
    return agent


def _data_entity(
    resource_type: str, resource_id: str | None, interaction: str, parameters: Iterable[str]
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "type": {"system": "http://hl7.org/fhir/resource-types", "code": resource_type},
        "role": {
            "system": "http://terminology.hl7.org/CodeSystem/object-role",
            "code": "24" if interaction == "search-type" else "4",
            "display": "Query" if interaction == "search-type" else "Domain Resource",
        },
    }
    if resource_id:
        entity["what"] = {"reference": f"{resource_type}/{resource_id}"}
    names = sorted(set(parameters))
    if names:
        # Parameter names only: values (identifiers, dates) stay out of the trail.
        entity["description"] = "search parameters: " + ", ".join(names)
    return entity


def _patient_entity(patient: str) -> dict[str, Any]:
    return {
        "what": {"reference": patient},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": "1",
            "display": "Person",
        },
        "role": {
            "system": "http://terminology.hl7.org/CodeSystem/object-role",
            "code": "1",
            "display": "Patient",
        },
    }
