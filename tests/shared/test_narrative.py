"""Narratives: every resource NeuroScreen writes carries one a person can read, within the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.answers import EGPA_FOOT_DROP
from support.alerts import alert_bundle

from shared.fhir.narrative import NarrativeError, check_narrative, with_narrative

VIGNETTES = yaml.safe_load(
    (Path(__file__).parents[1] / "screening/vignettes.yaml").read_text("utf-8")
)
XHTML_DIV = '<div xmlns="http://www.w3.org/1999/xhtml">'


def answers_of(vignette: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in vignette["answers"].items()}


def written(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """What NeuroScreen writes: every entry but the EHR's own QuestionnaireResponse."""
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] != "QuestionnaireResponse"
    ]


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_every_written_resource_has_a_generated_narrative_within_the_rules(vignette):
    bundle = alert_bundle(answers_of(vignette), response_id="r1")
    kinds = set()
    for resource in written(bundle):
        kinds.add(resource["resourceType"])
        text = resource["text"]
        assert text["status"] == "generated"
        assert text["div"].startswith(XHTML_DIV)
        check_narrative(text["div"])
    assert {"RiskAssessment", "Observation", "Task", "Communication"} <= kinds


def test_narratives_say_what_the_resource_says():
    bundle = alert_bundle(EGPA_FOOT_DROP, response_id="r1")
    by_type = {}
    for resource in written(bundle):
        by_type.setdefault(resource["resourceType"], resource)
    risk = by_type["RiskAssessment"]["text"]["div"]
    assert "Screening tier: Urgent" in risk
    assert "nasal polyps: yes" in risk  # the answers behind the suspicion
    assert "not a diagnosis" in risk
    request = by_type["ServiceRequest"]
    assert request["code"]["text"] in request["text"]["div"]
    task = by_type["Task"]["text"]["div"]
    assert "Status requested, priority stat" in task
    assert "Patient/p1" in task and "urn:uuid" not in task
    communication = by_type["Communication"]["text"]["div"]
    assert "URGENT priority neuropathy screen" in communication


def test_text_from_answers_and_displays_stays_text():
    resource = {
        "resourceType": "Observation",
        "id": "o1",
        "code": {"text": 'DN4 <script>alert("x")</script> & more'},
        "valueInteger": 3,
        "note": [{"text": "<a href='https://evil.example'>click</a>"}],
    }
    div = with_narrative(resource)["text"]["div"]
    check_narrative(div)
    assert "<script" not in div and "&lt;script&gt;" in div
    assert "<a " not in div and "&amp; more" in div
    assert list(with_narrative(resource))[:3] == ["resourceType", "id", "text"]


@pytest.mark.parametrize(
    ("div", "broken"),
    [
        ("<div>no namespace</div>", "XHTML namespace"),
        (f"{XHTML_DIV}<script>x()</script></div>", "'{http://www.w3.org/1999/xhtml}script'"),
        (f'{XHTML_DIV}<p onclick="x()">hi</p></div>', "'onclick'"),
        (f'{XHTML_DIV}<a href="https://example.org">out</a></div>', "refers outside"),
        (f'{XHTML_DIV}<img src="http://example.org/x.png" alt="x"/>x</div>', "refers outside"),
        (f'{XHTML_DIV}<p style="background: url(http://x)">x</p></div>', "refers outside"),
        (f"{XHTML_DIV}<form>x</form></div>", "form"),
        (f"{XHTML_DIV}  <p> </p></div>", "no text"),
        (f"{XHTML_DIV}<p>unclosed</div>", "well-formed"),
    ],
)
def test_the_rules_refuse_what_fhir_forbids(div, broken):
    with pytest.raises(NarrativeError, match=broken):
        check_narrative(div)


def test_the_rules_accept_a_local_anchor():
    check_narrative(f'{XHTML_DIV}<p id="a">x <a href="#a">here</a></p></div>')
