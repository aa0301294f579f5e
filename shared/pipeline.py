"""Where a QuestionnaireResponse is in its journey, and the one function that moves it.

received → scored → sending → notified | no-alert | held | retrying | dead-letter,
or failed when the engine cannot score it. A re-screen whose tier rose to alerting takes
a response at rest (notified, no-alert, held) back to ``scored`` for its new alert
round (:mod:`screening.rescreen`). ``retrying`` goes back to
``sending`` at the next attempt; an operator's replay takes a dead letter back
to ``retrying``. Every change goes through :func:`transition`, which refuses
a move the pipeline does not make and keeps ``due_at`` right: an active state
is due (now, at the scheduled retry, or when a delivery's claim expires), a
final one is not. The relay re-enqueues the next job of a response whose
``due_at`` is long past (see README, "Delivery guarantees").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.tasks import DELIVER_ALERT, SCORE_RESPONSE, TaskRoute


class ResponseState(StrEnum):
    RECEIVED = "received"
    SCORED = "scored"
    SENDING = "sending"
    """Claimed by a notify worker that is writing the alert to the EHR (a lease)."""
    RETRYING = "retrying"
    NOTIFIED = "notified"
    NO_ALERT = "no-alert"
    HELD = "held"
    """Alerting, kept in NeuroScreen's own store because no EHR is configured."""
    FAILED = "failed"
    DEAD_LETTER = "dead-letter"


ACTIVE_STATES = (
    ResponseState.RECEIVED,
    ResponseState.SCORED,
    ResponseState.SENDING,
    ResponseState.RETRYING,
)
"""States that still expect a job; the relay repeats it if it is long overdue."""

_DELIVERY_OUTCOMES = {
    ResponseState.NOTIFIED,
    ResponseState.NO_ALERT,
    ResponseState.HELD,
    ResponseState.RETRYING,
    ResponseState.DEAD_LETTER,
}
NEXT_STATES: dict[ResponseState | None, frozenset[ResponseState]] = {
    None: frozenset({ResponseState.RECEIVED}),
    ResponseState.RECEIVED: frozenset({ResponseState.SCORED, ResponseState.FAILED}),
    ResponseState.SCORED: frozenset({ResponseState.SENDING, *_DELIVERY_OUTCOMES}),
    # An expired claim is claimed again (sending → sending).
    ResponseState.SENDING: frozenset({ResponseState.SENDING, *_DELIVERY_OUTCOMES}),
    ResponseState.RETRYING: frozenset({ResponseState.SENDING, *_DELIVERY_OUTCOMES}),
    ResponseState.DEAD_LETTER: frozenset({ResponseState.RETRYING}),
    # A re-screen whose tier rose to alerting opens a new alert round (never a re-send of
    # the old one): the response is scored again and goes to notify.
    ResponseState.NOTIFIED: frozenset({ResponseState.SCORED}),
    ResponseState.NO_ALERT: frozenset({ResponseState.SCORED}),
    ResponseState.HELD: frozenset({ResponseState.SCORED}),
    ResponseState.FAILED: frozenset(),
}


class Tracked(Protocol):
    """The pipeline columns of a stored response (``QuestionnaireResponseRecord``)."""

    state: str
    state_detail: str | None
    state_changed_at: datetime
    due_at: datetime | None


class HasState(Protocol):
    state: str


class IllegalTransition(RuntimeError):
    """A code path tried a move the pipeline does not make: a bug, never user input."""


def transition(
    record: Tracked,
    to: ResponseState,
    detail: str | None,
    *,
    now: datetime,
    due_at: datetime | None = None,
    delivery: HasState | None = None,
) -> None:
    """Move ``record`` to ``to``; ``delivery`` (notify's row), if given, mirrors it.

    ``due_at`` is when the next job should have run (default ``now``) and only matters
    for an active state; a final state is never due.
    """
    current = ResponseState(record.state) if getattr(record, "state", None) else None
    if to not in NEXT_STATES[current]:
        raise IllegalTransition(f"{current} -> {to}")
    record.state = to.value
    record.state_detail = detail
    record.state_changed_at = now
    record.due_at = (due_at or now) if to in ACTIVE_STATES else None
    if delivery is not None:
        delivery.state = to.value


TASK_NOT_PICKED_UP = ("draft", "requested", "received", "ready")
"""Statuses (R4 task-status) of an alert Task that no one has taken on yet. A notified
response's ``screening-status`` shows its Task's status as ``taskStatus`` once notify's
follow-up has read it from the EHR; ``rejected`` and ``cancelled`` are decisions someone
made, so they are shown but never escalated (see ``notify.task_policy``)."""


def next_task_for(state: str) -> TaskRoute | None:
    """The job that moves a response on from ``state``, if it still expects one."""
    if state == ResponseState.RECEIVED:
        return SCORE_RESPONSE
    if state in (ResponseState.SCORED, ResponseState.SENDING, ResponseState.RETRYING):
        return DELIVER_ALERT
    return None
