"""When an alert's Task is due, and which Task statuses mean nobody has picked it up.

The due times follow the tier actions of the clinical basis (section f.6):
urgent is a same-day emergency assessment, high a specialist work-up within
days, moderate a routine work-up. Each is a setting
(``NEUROSCREEN_TASK_DUE_<TIER>_SECONDS``); the priority that goes with a tier
stays in one place, :data:`shared.fhir.codes.REQUEST_PRIORITY_BY_TIER`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.config import Settings
from shared.pipeline import TASK_NOT_PICKED_UP

ESCALATED_TIERS = frozenset({"urgent"})
"""Tiers whose Task, not accepted by its due time, is escalated once."""

NOT_PICKED_UP = frozenset(TASK_NOT_PICKED_UP)
"""A status not seen yet (None) counts as not picked up too."""


def task_due_after(tier: str, settings: Settings) -> timedelta:
    """How long the coordinator has to act on an alert of ``tier``."""
    seconds = {
        "urgent": settings.task_due_urgent_seconds,
        "high": settings.task_due_high_seconds,
        "moderate": settings.task_due_moderate_seconds,
        "low": settings.task_due_low_seconds,
    }[tier]
    return timedelta(seconds=seconds)


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
