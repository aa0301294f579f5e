"""Backoff and routing: the policy parts of delivery, as plain functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from notify.delivery import backoff_seconds
from notify.routing import load_routing
from shared.config import Settings


def settings(**values) -> Settings:
    return Settings(intake_tokens=("t",), **values)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    policy = settings(retry_base_seconds=2, retry_max_seconds=60)
    for attempt, ceiling in ((1, 2), (2, 4), (3, 8), (6, 60), (20, 60)):
        delays = {backoff_seconds(attempt, policy, None, tier="high") for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_backoff_never_retries_sooner_than_retry_after():
    policy = settings(retry_base_seconds=1, retry_max_seconds=600)
    assert backoff_seconds(1, policy, 30, tier="high") >= 30


def test_routing_file_sends_a_clinic_to_its_coordinator(tmp_path: Path):
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "routes:\n"
        "  - author: Organization/north\n    coordinator: CareTeam/north-neuro\n"
        "  - source: PractitionerRole/lee\n    coordinator: Practitioner/c7\n"
    )
    routing = load_routing("CareTeam/default", routes)
    assert (
        routing.coordinator_for({"author": {"reference": "Organization/north"}})
        == "CareTeam/north-neuro"
    )
    assert (
        routing.coordinator_for({"source": {"reference": "PractitionerRole/lee"}})
        == "Practitioner/c7"
    )
    assert (
        routing.coordinator_for({"author": {"reference": "Organization/south"}})
        == "CareTeam/default"
    )


def test_routing_file_without_a_coordinator_fails_loudly(tmp_path: Path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - author: Organization/north\n")
    with pytest.raises(ValueError, match="coordinator"):
        load_routing("CareTeam/default", routes)


def test_coordinator_setting_must_be_a_reference():
    with pytest.raises(ValueError, match="reference"):
        settings(coordinator="bob")
