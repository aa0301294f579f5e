"""The one function that moves a response through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.pipeline import IllegalTransition, ResponseState, next_task_for, transition

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Record:
    state: str = ""
    state_detail: str | None = None
    state_changed_at: datetime | None = None
    due_at: datetime | None = None


@dataclass
class Delivery:
    state: str = ""


def test_active_states_are_due_and_final_ones_are_not():
    record = Record()
    transition(record, ResponseState.RECEIVED, None, now=NOW)
    assert (record.state, record.due_at) == ("received", NOW)
    transition(record, ResponseState.SCORED, "tier urgent", now=NOW)
    lease = NOW + timedelta(minutes=5)
    delivery = Delivery()
    transition(record, ResponseState.SENDING, "writing", now=NOW, due_at=lease, delivery=delivery)
    assert (record.due_at, delivery.state) == (lease, "sending")
    transition(record, ResponseState.NOTIFIED, "delivered", now=NOW, delivery=delivery)
    assert (record.state, record.state_detail, record.due_at) == ("notified", "delivered", None)
    assert delivery.state == "notified"


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("received", "notified"),  # not scored yet
        ("notified", "retrying"),  # a delivered alert is never sent again
        ("failed", "scored"),
        ("dead-letter", "notified"),  # only a replay (retrying) leaves a dead letter
    ],
)
def test_moves_the_pipeline_does_not_make_are_refused(start: str, to: str):
    record = Record(state=start)
    with pytest.raises(IllegalTransition):
        transition(record, ResponseState(to), None, now=NOW)
    assert record.state == start


def test_every_active_state_has_a_next_job():
    assert next_task_for("received").name.endswith("score_response")
    for state in ("scored", "sending", "retrying"):
        assert next_task_for(state).name.endswith("deliver_alert")
    assert next_task_for("notified") is None
