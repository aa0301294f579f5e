"""Feedback on the card: stored once, shown on the delivery and in a metric, never sent on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from support.cds_stack import CdsService, start_cds_service


@pytest.fixture(scope="module")
def cds(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CdsService]:
    yield from start_cds_service(postgres_server, redis_server, tmp_path_factory.mktemp("cds"))


def _at(minutes_ago: int = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def _overridden(card: dict[str, Any], code: str, when: str, **reason: Any) -> dict[str, Any]:
    coding = next(r for r in card["overrideReasons"] if r["code"] == code)
    return {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": coding, **reason},
        "outcomeTimestamp": when,
    }


def _delivery(cds: CdsService, tier: str) -> dict[str, Any]:
    with cds.admin() as admin:
        deliveries = admin.get("/admin/deliveries").json()["deliveries"]
    return next(d for d in deliveries if d["response_id"] == cds.responses[tier])


def _outbox_rows(cds: CdsService) -> int:
    with psycopg.connect(cds.database_url) as connection:
        return connection.execute("SELECT count(*) FROM outbox").fetchone()[0]


def _metric(cds: CdsService, outcome: str, reason: str) -> float:
    text = httpx.get(cds.stack.base_url.removesuffix("/fhir") + "/metrics", timeout=10).text
    prefix = f'neuroscreen_cds_feedback_total{{outcome="{outcome}",override_reason="{reason}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_an_override_is_recorded_once_and_shown_on_the_delivery(cds: CdsService):
    (card,) = cds.ehr.cards(cds.patients["urgent"])
    comment = f"free text {uuid.uuid4().hex}"
    entry = _overridden(card, "already-assessed", _at(1), userComment=comment)
    outbox_before = _outbox_rows(cds)

    assert cds.ehr.feedback([entry]).status_code == 200
    assert cds.ehr.feedback([entry]).status_code == 200  # the EHR retried

    shown = _delivery(cds, "urgent")["cds_feedback"]
    assert shown == [
        {
            "card": card["uuid"],
            "outcome": "overridden",
            "at": shown[0]["at"],
            "override_reason": "already-assessed",
            "accepted_suggestions": 0,
        }
    ]
    assert _metric(cds, "overridden", "already-assessed") == 1.0
    with cds.admin() as admin:
        inspected = admin.get(f"/admin/deliveries/{cds.responses['urgent']}").json()
    assert inspected["cds_feedback"] == shown
    # Nothing is queued for the EHR, and the clinician's comment is kept nowhere.
    assert _outbox_rows(cds) == outbox_before
    assert comment not in cds.stack.log_text()
    assert comment not in str(inspected)


def test_acceptance_counts_the_accepted_suggestions(cds: CdsService):
    (card,) = cds.ehr.cards(cds.patients["high"])
    chosen = [{"id": s["uuid"]} for s in card["suggestions"][:2]]
    entry = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": chosen,
        "outcomeTimestamp": _at(),
    }
    assert cds.ehr.feedback([entry]).status_code == 200
    (shown,) = _delivery(cds, "high")["cds_feedback"]
    assert (shown["outcome"], shown["accepted_suggestions"]) == ("accepted", len(chosen))
    assert _metric(cds, "accepted", "none") >= 1.0


def test_a_reason_from_another_code_system_is_counted_as_other(cds: CdsService):
    (card,) = cds.ehr.cards(cds.patients["moderate"])
    entry = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "urn:ehr:reasons", "code": "busy", "display": "Busy"}
        },
        "outcomeTimestamp": _at(),
    }
    assert cds.ehr.feedback([entry]).status_code == 200
    assert _delivery(cds, "moderate")["cds_feedback"][-1]["override_reason"] == "other"
    assert _metric(cds, "overridden", "other") == 1.0


def test_feedback_on_a_card_never_shown_is_refused_and_stores_nothing(cds: CdsService):
    entry = {
        "card": str(uuid.uuid4()),
        "outcome": "overridden",
        "overrideReason": {"userComment": "not mine"},
        "outcomeTimestamp": _at(),
    }
    assert cds.ehr.feedback([entry]).status_code == 404
    with psycopg.connect(cds.database_url) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM cds_feedback WHERE card_uuid = %s", (entry["card"],)
        ).fetchone()
    assert count == 0


def test_feedback_breaking_the_specification_is_a_400(cds: CdsService):
    (card,) = cds.ehr.cards(cds.patients["urgent"])
    accepted_without_suggestions = {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": _at(),
    }
    reply = httpx.post(
        cds.ehr.feedback_url,
        json={"feedback": [accepted_without_suggestions]},
        headers=cds.ehr.bearer(cds.ehr.feedback_url),
        timeout=10,
    )
    assert reply.status_code == 400
    assert "cds-fb-2" in reply.text
