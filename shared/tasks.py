"""The contract between services: task names, their queues and their payloads.

Services never import each other; they agree on these names. Payloads carry
ids only — the task reads the current row, so a redelivered or replayed job
always acts on what is stored, never on a stale copy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskRoute:
    name: str
    queue: str


SCORE_RESPONSE = TaskRoute("neuroscreen.screening.score_response", "screening")
"""Payload ``{"response_id": str}``: score one stored QuestionnaireResponse."""

DELIVER_ALERT = TaskRoute("neuroscreen.notify.deliver_alert", "notify")
"""Payload ``{"response_id": str}``: alert the coordinator about a scored response."""

ROUTES = {route.name: route for route in (SCORE_RESPONSE, DELIVER_ALERT)}
