"""Where a QuestionnaireResponse is in its journey, as the intake shows it.

received → scored → notified | no-alert | retrying | dead-letter, or failed
when the engine cannot score it. ``ACTIVE`` states still expect work; the
outbox relay publishes their next job again if it is overdue.
"""

from __future__ import annotations

from enum import StrEnum

from shared.tasks import DELIVER_ALERT, SCORE_RESPONSE, TaskRoute


class ResponseState(StrEnum):
    RECEIVED = "received"
    SCORED = "scored"
    FAILED = "failed"
    NOTIFIED = "notified"
    NO_ALERT = "no-alert"
    HELD = "held"
    """Alerting, kept in NeuroScreen's own store because no EHR is configured."""
    RETRYING = "retrying"
    DEAD_LETTER = "dead-letter"


ACTIVE_STATES = (ResponseState.RECEIVED, ResponseState.SCORED, ResponseState.RETRYING)

TASK_NOT_PICKED_UP = ("draft", "requested", "received", "ready")
"""Statuses (R4 task-status) of an alert Task that no one has taken on yet. A notified
response's ``screening-status`` shows its Task's status as ``taskStatus`` once notify's
follow-up has read it from the EHR; ``rejected`` and ``cancelled`` are decisions someone
made, so they are shown but never escalated (see ``notify.task_policy``)."""


def next_task_for(state: str) -> TaskRoute | None:
    """The job that moves a response on from ``state``, if it still expects one."""
    if state == ResponseState.RECEIVED:
        return SCORE_RESPONSE
    if state in (ResponseState.SCORED, ResponseState.RETRYING):
        return DELIVER_ALERT
    return None
