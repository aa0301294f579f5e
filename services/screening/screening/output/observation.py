"""The DN4-interview score as an Observation derived from the QuestionnaireResponse.

The score travels on its own so an EHR can chart and search it like any other
survey score. It is coded only with the project's ``dn4-interview-score``:
no LOINC code for the DN4 interview has been verified, and an invented one
would be worse than none.
"""

from __future__ import annotations

from typing import Any

from screening.output.identity import Identity, ScreeningContext
from screening.output.rationale import DN4_ITEMS, answers
from screening.output.terminology import TERMINOLOGY
from screening.result import ScreeningResult
from shared.fhir.codes import DN4_INTERVIEW_SCORE, SCREENING_OBSERVATION
from shared.fhir.codesystems import project_coding

DN4_CUTOFF = 3
"""DN4-interview score at or above which neuropathic pain is likely (Bouhassira 2005)."""

_CAVEAT = (
    "DN4 detects neuropathic pain, not its cause; painless neuropathies score low, so a low "
    "score does not rule out a neuropathy. Unanswered items count as not present."
)


def dn4_identity(context: ScreeningContext) -> Identity:
    return context.identity("Observation", "observation", DN4_INTERVIEW_SCORE)


def build_dn4_observation(result: ScreeningResult, context: ScreeningContext) -> dict[str, Any]:
    """Observation with the DN4-interview score, its interpretation and the items answered yes."""
    if not 0 <= result.dn4_score <= len(DN4_ITEMS):
        raise ValueError(f"DN4-interview score must be 0-7, got {result.dn4_score}")
    identity = dn4_identity(context)
    terms = TERMINOLOGY.observation
    if result.neuropathic:
        interpretation = terms.neuropathic.coding()
        meaning = f"{DN4_CUTOFF} or more of 7: neuropathic pain likely"
    elif result.dn4_score >= DN4_CUTOFF:  # knowledge 2.0.0: DN4 presumes pain (g2)
        interpretation = terms.not_neuropathic.coding()
        meaning = (
            f"{DN4_CUTOFF} or more of 7 but no pain reported: nerve symptoms, not neuropathic pain"
        )
    else:
        interpretation = terms.not_neuropathic.coding()
        meaning = f"below {DN4_CUTOFF} of 7: neuropathic pain not indicated by DN4"
    yes = answers(result.dn4_evidence)
    missing = [item.link_id for item in result.unanswered if item.link_id in DN4_ITEMS]
    notes = [f"DN4 interview items answered yes: {yes or 'none'}."]
    if missing:
        notes.append(f"DN4 interview items left unanswered: {', '.join(missing)}.")
    notes.append(_CAVEAT)
    return {
        "resourceType": "Observation",
        "id": identity.id,
        "identifier": identity.identifier(),
        "status": "final",
        "category": [{"coding": [terms.category.coding()]}],
        "code": {
            "coding": [project_coding(SCREENING_OBSERVATION, DN4_INTERVIEW_SCORE)],
            "text": "DN4 interview score (items 1-7, Bouhassira et al., Pain 2005)",
        },
        "subject": {"reference": context.subject},
        "effectiveDateTime": context.occurred_at,
        "valueInteger": result.dn4_score,
        "interpretation": [
            {
                "coding": [interpretation],
                "text": f"{meaning} (published cut-off {DN4_CUTOFF}/7, Bouhassira 2005)",
            }
        ],
        "note": [{"text": text} for text in notes],
        "derivedFrom": [{"reference": context.response}],
    }
