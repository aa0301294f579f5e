"""When an alert's Task is due, and which Task statuses mean nobody has picked it up.

The due times are :func:`shared.due.task_due_after` (the screening report states
them too); the priority that goes with a tier
stays in one place, :data:`shared.fhir.codes.REQUEST_PRIORITY_BY_TIER`.
"""

from __future__ import annotations

from datetime import datetime

from shared.config import Settings
from shared.due import task_due_after as task_due_after  # one definition, shared with the report
from shared.pipeline import TASK_NOT_PICKED_UP

ESCALATED_TIERS = frozenset({"urgent"})
"""Tiers whose Task, not accepted by its due time, is escalated once."""

NOT_PICKED_UP = frozenset(TASK_NOT_PICKED_UP)
"""A status not seen yet (None) counts as not picked up too."""


def task_due_at(tier: str, authored_at: datetime, settings: Settings) -> datetime:
    """``Task.restriction.period.end`` for a Task of ``tier`` written at ``authored_at``."""
    return authored_at + task_due_after(tier, settings)


def needs_escalation(
    tier: str, task_status: str | None, due_at: datetime | None, now: datetime
) -> bool:
    """An urgent Task still not picked up once its due time has passed."""
    return (
        tier in ESCALATED_TIERS
        and due_at is not None
        and now >= due_at
        and (task_status is None or task_status in NOT_PICKED_UP)
    )
