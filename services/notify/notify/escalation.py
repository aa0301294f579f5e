"""One escalation for an urgent Task nobody picked up by its due time.

The escalation is a Communication to ``NEUROSCREEN_ESCALATION_RECIPIENT``
(default: the coordinator), written as a conditional create on the stable
identifier ``escalation/<response id>``. A run that dies after the EHR stored it
but before our commit finds the same Communication next time instead of sending
a second one; a delivery row lock keeps two runs from working on one delivery;
``Delivery.escalated_at`` ends it. Exactly one escalation, whatever restarts.

Before escalating, the Task is read again: a coordinator who accepted it a
moment ago must not be paged for it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from notify.alert_bundle import round_identifier
from notify.ehr_client import EhrAuthFailed, EhrClient, EhrError
from notify.task_policy import ESCALATED_TIERS, NOT_PICKED_UP, needs_escalation
from notify.task_status import record_task_status
from shared.config import Settings
from shared.fhir.codes import REQUEST_PRIORITY_BY_TIER, SCREENING_OUTPUT_IDENTIFIER
from shared.fhir.search_values import query, token
from shared.models import Delivery, QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.pipeline import ResponseState

log = logging.getLogger("neuroscreen.notify")

COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
BATCH = 100


def escalate_overdue(session: Session, settings: Settings, client: EhrClient) -> int:
    """Escalate every overdue, unaccepted urgent Task once; returns how many were sent.

    Raises :class:`EhrAuthFailed` at the first sign-in failure: every other escalation
    would fail the same way, and the caller alarms it (escalations sent so far stand).
    """
    now = utcnow()
    overdue = session.scalars(
        select(Delivery)
        .where(
            Delivery.tier.in_(ESCALATED_TIERS),
            Delivery.state == ResponseState.NOTIFIED,
            Delivery.escalated_at.is_(None),
            Delivery.task_due_at <= now,
            or_(Delivery.task_status.is_(None), Delivery.task_status.in_(NOT_PICKED_UP)),
        )
        .order_by(Delivery.task_due_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for delivery in overdue:
        try:
            task = current_task(client, delivery)
            if task is not None:
                record_task_status(delivery, task)
            if not needs_escalation(delivery.tier, delivery.task_status, delivery.task_due_at, now):
                continue
            record = session.get(QuestionnaireResponseRecord, delivery.response_id)
            bundle = escalation_bundle(
                delivery,
                task_reference=_task_reference(delivery, task),
                patient=record.patient if record else None,
                recipient=settings.escalates_to,
                sent_at=now,
            )
            result = client.post_transaction(bundle)  # one entry: nothing to split
        except EhrAuthFailed:
            raise
        except EhrError as error:
            # Tried again next run; neuroscreen_escalations_pending shows it meanwhile.
            log.warning(
                "escalation failed",
                extra={
                    "response_id": delivery.response_id,
                    "http_status": error.status,
                    "error": str(error),
                },
            )
            continue
        delivery.escalated_at = now
        delivery.escalation_recipient = settings.escalates_to
        delivery.escalation_reference = result.references[0] if result.references else None
        sent += 1
        log.warning(
            "urgent task not accepted by its due time: escalated",
            extra={
                "event": "task_escalated",
                "response_id": delivery.response_id,
                "status": delivery.task_status or "unknown",
                "resource_id": delivery.escalation_reference,
            },
        )
    return sent


def current_task(client: EhrClient, delivery: Delivery) -> dict[str, Any] | None:
    """The alert Task of the delivery's round as the EHR holds it now, by its identifier."""
    value = round_identifier(f"task/{delivery.response_id}", delivery.alert_round)
    tasks = client.search("Task", {"identifier": token(SCREENING_OUTPUT_IDENTIFIER, value)})
    return tasks[0] if tasks else None


def escalation_bundle(
    delivery: Delivery,
    *,
    task_reference: str | None,
    patient: str | None,
    recipient: str,
    sent_at: datetime,
) -> dict[str, Any]:
    """A one-entry transaction: the escalation Communication as a conditional create."""
    identifier = {
        "system": SCREENING_OUTPUT_IDENTIFIER,
        "value": round_identifier(f"escalation/{delivery.response_id}", delivery.alert_round),
    }
    due = _instant(delivery.task_due_at) if delivery.task_due_at else "its due time"
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [identifier],
        "status": "completed",
        "category": [
            {"coding": [{"system": COMMUNICATION_CATEGORY, "code": "alert", "display": "Alert"}]}
        ],
        "priority": REQUEST_PRIORITY_BY_TIER[delivery.tier],
        "recipient": [{"reference": recipient}],
        "sent": _instant(sent_at),
        "payload": [
            {
                "contentString": (
                    f"NeuroScreen escalation: an {delivery.tier.upper()} neuropathy screening "
                    f"Task was not accepted by {due} (status: "
                    f"{delivery.task_status or 'unknown'}). Same-day assessment is recommended: "
                    "please make sure someone takes it on. Clinical decision support, "
                    "not a diagnosis."
                )
            }
        ],
    }
    if patient:
        communication["subject"] = {"reference": patient}
    if task_reference:
        communication["about"] = [{"reference": task_reference}]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": communication,
                "request": {
                    "method": "POST",
                    "url": "Communication",
                    "ifNoneExist": query(
                        {"identifier": token(identifier["system"], identifier["value"])}
                    ),
                },
            }
        ],
    }


def _task_reference(delivery: Delivery, task: dict[str, Any] | None) -> str | None:
    if task is not None:
        return f"Task/{task['id']}"
    written = orjson.loads(delivery.ehr_references) if delivery.ehr_references else []
    return next((r for r in written if r.startswith("Task/")), None)


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
