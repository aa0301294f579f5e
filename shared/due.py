"""How long the coordinator has to act on an alert of each tier: one definition.

The windows follow the tier actions of the clinical basis (section f.6):
urgent is a same-day emergency assessment, high a specialist work-up within
days, moderate a routine work-up. Each is a setting
(``NEUROSCREEN_TASK_DUE_<TIER>_SECONDS``). Notify sets the Task's due time from
it; the screening report states it at the top.
"""

from __future__ import annotations

from datetime import timedelta

from shared.config import Settings


def task_due_after(tier: str, settings: Settings) -> timedelta:
    """How long the coordinator has to act on an alert of ``tier``."""
    seconds = {
        "urgent": settings.task_due_urgent_seconds,
        "high": settings.task_due_high_seconds,
        "moderate": settings.task_due_moderate_seconds,
        "low": settings.task_due_low_seconds,
    }[tier]
    return timedelta(seconds=seconds)
