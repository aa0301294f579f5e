"""The due-time policy and when an urgent Task is escalated, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notify.alert_bundle import build_alert_bundle
from notify.task_policy import needs_escalation, task_due_at
from shared.config import Settings
from shared.fhir.codes import REQUEST_PRIORITY_BY_TIER

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def settings(**values) -> Settings:
    return Settings(intake_tokens=("t",), **values)


@pytest.mark.parametrize(
    ("tier", "due"),
    [
        ("urgent", timedelta(hours=4)),  # same-day emergency assessment
        ("high", timedelta(days=3)),  # specialist work-up within days
        ("moderate", timedelta(days=14)),  # routine work-up
        ("low", timedelta(days=30)),
    ],
)
def test_default_due_times_follow_the_tier_actions(tier: str, due: timedelta):
    assert task_due_at(tier, NOW, settings()) == NOW + due


def test_due_times_are_settings():
    policy = settings(task_due_urgent_seconds=60, task_due_high_seconds=3600)
    assert task_due_at("urgent", NOW, policy) == NOW + timedelta(minutes=1)
    assert task_due_at("high", NOW, policy) == NOW + timedelta(hours=1)
    with pytest.raises(ValueError, match="greater than 0"):
        settings(task_due_urgent_seconds=0)


def test_a_more_urgent_tier_is_never_due_later_and_never_has_a_lower_priority():
    order = ["urgent", "high", "moderate", "low"]
    dues = [task_due_at(tier, NOW, settings()) for tier in order]
    assert dues == sorted(dues)
    ranks = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
    priorities = [ranks[REQUEST_PRIORITY_BY_TIER[tier]] for tier in order]
    assert priorities == sorted(priorities)


@pytest.mark.parametrize("status", [None, "draft", "requested", "received", "ready"])
def test_an_urgent_task_not_picked_up_by_its_due_time_is_escalated(status):
    due = NOW - timedelta(seconds=1)
    assert needs_escalation("urgent", status, due, NOW)


@pytest.mark.parametrize(
    "status", ["accepted", "in-progress", "completed", "on-hold", "rejected", "cancelled"]
)
def test_a_task_someone_acted_on_is_not_escalated(status):
    assert not needs_escalation("urgent", status, NOW - timedelta(hours=1), NOW)


def test_only_urgent_tasks_and_only_after_their_due_time_are_escalated():
    assert not needs_escalation("urgent", "requested", NOW + timedelta(seconds=1), NOW)
    assert not needs_escalation("urgent", "requested", None, NOW)
    assert not needs_escalation("high", "requested", NOW - timedelta(days=9), NOW)


def test_escalation_recipient_defaults_to_the_coordinator_and_must_be_a_reference():
    assert settings(coordinator="CareTeam/x").escalates_to == "CareTeam/x"
    chosen = settings(coordinator="CareTeam/x", escalation_recipient="PractitionerRole/lead")
    assert chosen.escalates_to == "PractitionerRole/lead"
    with pytest.raises(ValueError, match="reference"):
        settings(escalation_recipient="the lead")
    with pytest.raises(ValueError, match="reference"):
        settings(coordinator="")


def test_the_task_carries_its_due_time_as_restriction_period_end():
    from fixtures.answers import RAPID_ASCENDING_WEAKNESS
    from test_alert_bundle import alert  # the bundle fixtures of the alert tests

    _, content = alert(RAPID_ASCENDING_WEAKNESS)
    due = task_due_at(content.tier, NOW, settings())
    bundle = build_alert_bundle(content, coordinator="CareTeam/n", authored_at=NOW, due_at=due)
    (task,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    assert task["restriction"] == {"period": {"end": "2026-11-29T12:00:00Z"}}
    assert task["authoredOn"] == "2026-11-29T08:00:00Z"
