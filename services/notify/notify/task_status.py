"""An alert Task's status as the EHR reports it, recorded on the delivery."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER
from shared.models import Delivery
from shared.models.base import utcnow

log = logging.getLogger("neuroscreen.notify")

TASK_PREFIX = "task/"


def record_task_status(delivery: Delivery, task: dict[str, Any]) -> None:
    """Keep ``task``'s status unless the delivery already holds a newer version's."""
    status = task.get("status")
    changed = parse_instant(task["meta"]["lastUpdated"]) if task.get("meta") else utcnow()
    if not status or (delivery.task_status_at and changed < delivery.task_status_at):
        return
    if status != delivery.task_status:
        log.info(
            "alert task status changed",
            extra={
                "event": "task_status",
                "response_id": delivery.response_id,
                "tier": delivery.tier,
                "status": status,
            },
        )
    delivery.task_status = status
    delivery.task_status_at = changed


def alert_of(task: dict[str, Any]) -> tuple[str, int] | None:
    """The response and alert round a Task belongs to, from its identifier
    ``task/<response id>`` (round 1) or ``task/<response id>/v<round>`` (a re-screen's)."""
    for identifier in task.get("identifier", []):
        value = identifier.get("value", "")
        if identifier.get("system") == SCREENING_OUTPUT_IDENTIFIER and value.startswith(
            TASK_PREFIX
        ):
            response_id, _, suffix = value[len(TASK_PREFIX) :].partition("/v")
            return response_id, int(suffix) if suffix.isdigit() else 1
    return None


def parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
