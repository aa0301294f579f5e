"""The CDS Hooks models hold the specification's invariants; the card's text stays in bounds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from intake.cds.card import OVERRIDE_REASONS, detail, shows_card, summary
from intake.cds.models import CDSHooksFeedback, CDSHooksRequest, CDSHooksResponse, CDSHooksServices


def _card(**changes: Any) -> dict[str, Any]:
    card = {
        "uuid": str(uuid.uuid4()),
        "summary": "Urgent immune-neuropathy screen (decision support)",
        "indicator": "critical",
        "source": {"label": "NeuroScreen", "url": "https://neuroscreen.example/docs"},
        "suggestions": [
            {
                "label": "Propose: CRP",
                "uuid": str(uuid.uuid4()),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "create",
                        "description": "Create a draft ServiceRequest",
                        "resource": {"resourceType": "ServiceRequest", "intent": "proposal"},
                    }
                ],
            }
        ],
        "selectionBehavior": "any",
        "overrideReasons": OVERRIDE_REASONS,
    }
    return {**card, **changes}


def test_the_specifications_discovery_example_is_valid():
    CDSHooksServices.model_validate(
        {
            "services": [
                {
                    "hook": "patient-view",
                    "title": "Static CDS Service Example",
                    "description": "An example of a CDS Service that returns a static set of cards",
                    "id": "static-patient-greeter",
                    "prefetch": {"patientToGreet": "Patient/{{context.patientId}}"},
                }
            ]
        }
    )


def test_a_card_like_ours_is_valid():
    CDSHooksResponse.model_validate({"cards": [_card()]})
    CDSHooksResponse.model_validate({"cards": []})


@pytest.mark.parametrize(
    ("changes", "invariant"),
    [
        ({"summary": "x" * 141}, "140"),
        ({"indicator": "hard-stop"}, "indicator"),
        ({"selectionBehavior": None}, "cds-resp-6"),
        ({"overrideReasons": [{"code": "x"}]}, "cds-resp-4"),
        (
            {
                "links": [
                    {"label": "l", "url": "https://a.b", "type": "absolute", "appContext": "x"}
                ]
            },
            "cds-resp-3",
        ),
        ({"unknownMember": 1}, "extra"),
    ],
)
def test_a_card_breaking_the_specification_is_refused(changes: dict[str, Any], invariant: str):
    with pytest.raises(ValidationError, match=invariant):
        CDSHooksResponse.model_validate({"cards": [_card(**changes)]})


def test_an_action_without_a_description_is_refused():
    card = _card()
    del card["suggestions"][0]["actions"][0]["description"]
    with pytest.raises(ValidationError, match="cds-resp-5"):
        CDSHooksResponse.model_validate({"cards": [card]})


def test_a_request_with_fhir_authorization_needs_a_fhir_server_and_hides_the_token():
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "fhirAuthorization": {
            "access_token": "very-secret",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Patient.read",
            "subject": "neuroscreen",
        },
    }
    with pytest.raises(ValidationError, match="cds-r-2"):
        CDSHooksRequest.model_validate(body)
    request = CDSHooksRequest.model_validate({**body, "fhirServer": "https://ehr.example/fhir"})
    assert "very-secret" not in repr(request)
    assert request.patient_view_context().patientId == "p1"


@pytest.mark.parametrize(
    ("entry", "invariant"),
    [
        ({"outcome": "dismissed"}, "outcome"),
        ({"outcome": "accepted"}, "cds-fb-2"),
        ({"outcome": "overridden", "overrideReason": {}}, "cds-fb-3"),
        ({"outcome": "overridden", "outcomeTimestamp": "2026-11-29T08:00:00"}, "timezone"),
    ],
)
def test_feedback_breaking_the_specification_is_refused(entry: dict[str, Any], invariant: str):
    body = {"card": str(uuid.uuid4()), "outcomeTimestamp": "2026-11-29T08:00:00Z", **entry}
    with pytest.raises(ValidationError, match=invariant):
        CDSHooksFeedback.model_validate({"feedback": [body]})


def test_the_summary_keeps_tier_suspicion_and_decision_support_within_140_characters():
    long_name = "Eosinophilic granulomatosis with polyangiitis " * 4
    text = summary("moderate", long_name)
    assert len(text) <= 140
    assert text.startswith("Moderate")
    assert text.endswith("(decision support)")
    assert "Eosinophilic granulomatosis" in text
    assert "no leading disease suspicion" in summary("high", None)


@pytest.mark.parametrize(
    ("tier", "min_tier", "shown"),
    [
        ("low", "moderate", False),
        ("moderate", "moderate", True),
        ("low", "low", True),
        ("high", "urgent", False),
    ],
)
def test_a_card_is_shown_from_the_alerting_tier_up(tier: str, min_tier: str, shown: bool):
    assert shows_card(tier, min_tier) is shown


def test_the_detail_lists_each_citation_once_and_never_renders_answers_as_markup():
    risk = {
        "prediction": [
            {
                "rationale": "High: assess within days. Why: polyps (nasal polyps: yes) [Source A; Source B]."
            },
            {
                "outcome": {"text": "EGPA"},
                "qualitativeRisk": {"text": "High suspicion"},
                "rationale": "Raised by: *itching*: yes [Source B].",
            },
        ],
        "reasonCode": [{"text": "Mononeuritis multiplex"}],
        "note": [
            {"text": "Red flags: none | none [Source C]."},
            {"text": "Decision support, not a diagnosis."},
        ],
    }
    text = detail("high", risk)
    assert text.count("- Source A") == 1
    assert text.count("- Source B") == 1
    assert "- Source C" in text
    assert "[Source" not in text
    assert r"\*itching\*" in text
    assert r"none \| none" in text
    assert "**Pattern:** Mononeuritis multiplex" in text
    assert text.endswith("*Decision support, not a diagnosis.*")
