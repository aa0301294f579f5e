"""The screening report's content, HTML and PDF, from real engine results."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fixtures.answers import EGPA_FOOT_DROP, NOTHING_WRONG
from fixtures.responses import make_response

from screening.engine import answers_from_questionnaire_response, evaluate
from screening.knowledge import load_knowledge
from screening.output import build_screening_resources
from screening.output.report import build_report_content, render_html, render_pdf
from screening.result import Evidence, Finding
from shared.fhir.narrative import check_narrative

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def result_of(answers):
    response = make_response(answers, patient="Patient/p1")
    return evaluate(answers_from_questionnaire_response(response), load_knowledge())


def content_of(result, due=timedelta(hours=4)):
    return build_report_content(
        result,
        patient="Patient/p1",
        response="QuestionnaireResponse/r1",
        screened_at=NOW,
        due_within=due,
    )


def test_the_top_says_tier_and_due_time():
    content = content_of(result_of(EGPA_FOOT_DROP))
    assert content.tier == "urgent"
    assert content.tier_display == "Urgent: same-day assessment"
    assert content.due == "within 4 hours of screening (by 2026-11-26 16:00 UTC)"
    assert content_of(result_of(EGPA_FOOT_DROP), timedelta(days=3)).due.startswith("within 3 days")


def test_why_quotes_the_questions_the_patient_read_and_their_answers():
    content = content_of(result_of(EGPA_FOOT_DROP))
    (reason,) = content.why
    quoted = {(a.question, a.answer) for a in reason.answers}
    assert (
        "Have you suddenly been unable to lift your foot (foot drop) or your hand at the "
        "wrist (wrist drop)?",
        "Yes",
    ) in quoted
    assert reason.source  # every rule cites its source
    pattern = content.patterns[0]
    assert (
        "How did it start and spread?",
        "In patches in unrelated places, appearing one after another",
    ) in {(a.question, a.answer) for a in pattern.answers}


def test_suspicions_are_ranked_and_unranked_ones_listed_apart():
    content = content_of(result_of(EGPA_FOOT_DROP))
    assert [s.condition for s in content.ranked][:2] == [
        "Eosinophilic granulomatosis with polyangiitis (EGPA)",
        "Polyarteritis nodosa",
    ]
    assert content.ranked[0].level == "high"
    assert content.listed and all(s.level == "low" for s in content.listed)
    assert not {s.condition for s in content.listed} & {s.condition for s in content.ranked}


def test_work_up_is_grouped_emergency_first():
    content = content_of(result_of(EGPA_FOOT_DROP))
    groups = [section.group for section in content.workup]
    assert groups == ["emergency", "first-line", "specialist"]
    emergency = [step.name for step in content.workup[0].steps]
    assert emergency == ["Same-day emergency assessment"]
    first_line = [step.name for step in content.workup[1].steps]
    assert "ANCA with MPO and PR3 antibodies" in first_line
    specialist = [step.name for step in content.workup[2].steps]
    assert "Nerve conduction studies and electromyography" in specialist
    assert all(step.why for section in content.workup for step in section.steps)


def test_a_low_screen_says_so_without_empty_sections():
    content = content_of(result_of(NOTHING_WRONG))
    html = render_html(content)
    assert content.tier == "low" and content.ranked == ()
    assert "No condition is suspected on these answers." in html
    assert 'id="alternatives"' not in html


def test_html_page_has_every_part_in_order_and_no_script_or_external_resource():
    html = render_html(content_of(result_of(EGPA_FOOT_DROP)))
    order = ["tier", "due", "why", "pattern", "suspicions", "alternatives", "workup", "sources"]
    positions = [html.index(f'id="{part}"') for part in order]
    assert positions == sorted(positions)
    assert html.index("Emergency: same-day assessment") < html.index("First-line tests")
    assert html.index("First-line tests") < html.index("Specialist steps")
    assert "Clinical decision support, not a diagnosis" in html
    assert "neuroscreen-kb 2." in html
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)=", html)


def test_html_escapes_what_it_quotes():
    result = result_of(EGPA_FOOT_DROP)
    odd = Finding("r1", "<b>bold</b> & <script>x()</script>", (Evidence("age", 52, "age 52"),), "S")
    html = render_html(content_of(replace(result, tier_reasons=(odd,))))
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script>" not in html
    assert "&amp;" in html


def test_pdf_is_a_pdf_of_the_same_content_and_the_same_bytes_each_time():
    content = content_of(result_of(EGPA_FOOT_DROP))
    pdf = render_pdf(content, NOW)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert render_pdf(content, NOW) == pdf
    assert 5_000 < len(pdf) < 200_000


def test_the_diagnostic_report_carries_both_forms_and_a_narrative():
    result = result_of(EGPA_FOOT_DROP)
    out = build_screening_resources(
        result,
        response_id="r1",
        patient="Patient/p1",
        occurred_at=NOW,
        due_within=timedelta(hours=4),
    )
    report = out.diagnostic_report
    assert report["status"] == "preliminary"
    assert report["subject"] == {"reference": "Patient/p1"}
    assert report["result"] == [
        {"reference": out.observation["resourceType"] + "/" + out.observation["id"]}
    ]
    forms = {
        form["contentType"]: base64.b64decode(form["data"]) for form in report["presentedForm"]
    }
    assert forms.keys() == {"application/pdf", "text/html"}
    assert forms["application/pdf"].startswith(b"%PDF-")
    assert b"Urgent: same-day assessment" in forms["text/html"]
    check_narrative(report["text"]["div"])
    assert out.all()[-1] is report
    again = build_screening_resources(
        result,
        response_id="r1",
        patient="Patient/p1",
        occurred_at=NOW,
        due_within=timedelta(hours=4),
    )
    assert again.diagnostic_report == report  # deterministic, like every derived resource
