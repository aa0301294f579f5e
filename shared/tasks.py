"""The contract between services: task names, their queues and their payloads.

Services never import each other; they agree on these names. Payloads carry
ids only — the task reads the current row, so a redelivered or replayed job
always acts on what is stored, never on a stale copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.config import Settings


@dataclass(frozen=True)
class TaskRoute:
    name: str
    queue: str


SCORE_RESPONSE = TaskRoute("neuroscreen.screening.score_response", "screening")
"""Payload ``{"response_id": str}``: score one stored QuestionnaireResponse."""

DELIVER_ALERT = TaskRoute("neuroscreen.notify.deliver_alert", "notify")
"""Payload ``{"response_id": str}``: alert the coordinator about a scored response."""

FOLLOW_UP_TASKS = TaskRoute("neuroscreen.notify.follow_up_tasks", "notify")
"""Payload ``{}``: read the alert Tasks' status from the EHR and escalate overdue urgent ones.
Periodic: the outbox relay publishes it every ``NEUROSCREEN_TASK_FOLLOW_UP_INTERVAL_SECONDS``."""

RESCREEN_BATCH = TaskRoute("neuroscreen.screening.rescreen_batch", "screening-bulk")
"""Payload ``{"run_id": str, "batch": int}``: the next batch of a re-screening run. Its own
queue, consumed by its own worker process, so live responses never wait behind a re-screen."""

SCORE_BACKLOG = TaskRoute("neuroscreen.screening.score_backlog", "screening-bulk")
"""Payload ``{"response_id": str}``: score one imported (backlog) response, as
``SCORE_RESPONSE`` does, on the bulk queue so that live responses never wait behind it."""

ROUTES = {
    route.name: route
    for route in (SCORE_RESPONSE, DELIVER_ALERT, FOLLOW_UP_TASKS, RESCREEN_BATCH, SCORE_BACKLOG)
}


def periodic_jobs(settings: Settings) -> dict[TaskRoute, float]:
    """The jobs the outbox relay runs periodically, with their intervals in seconds."""
    return {FOLLOW_UP_TASKS: settings.task_follow_up_interval_seconds}
