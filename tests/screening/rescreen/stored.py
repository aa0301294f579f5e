"""Stored, scored responses for the re-screening tests: vignettes scored under 1.0.0.

The tiers below are the vignette files' own (``tests/screening/vignettes*.yaml``): what
knowledge 1.0.0 and 2.0.0 make of each case, pinned so that a newer knowledge version
(2.1.0 and on) does not move these expectations.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from fixtures.responses import make_response
from sqlalchemy.orm import Session

from screening.knowledge import load_knowledge
from screening.scoring import score
from shared.models import QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.pipeline import ResponseState, transition

VIGNETTES = Path(__file__).resolve().parents[1]

MIXED = {
    # vignette id: (tier under 1.0.0, tier under 2.0.0)
    "g1-breathing-swallowing-alone": ("low", "urgent"),
    "diabetic-symmetric-feet": ("low", "moderate"),
    "g1-isolated-acute-foot-drop": ("moderate", "high"),
    "g2-asthma-and-polyps-not-high": ("high", "moderate"),
    "g3-metformin": ("moderate", "low"),
    "healthy-all-no": ("low", "low"),
    "gbs-classic": ("urgent", "urgent"),
}


def vignette_answers() -> dict[str, dict]:
    cases = {}
    for name in ("vignettes.yaml", "vignettes-v2.yaml"):
        for case in yaml.safe_load((VIGNETTES / name).read_text(encoding="utf-8")):
            cases[case["id"]] = case["answers"]
    return cases


def store_scored(
    session: Session, response_id: str, answers: dict, *, state: ResponseState, version: str
) -> None:
    """A response stored, scored under ``version`` and left in ``state``."""
    now = utcnow()
    record = QuestionnaireResponseRecord(
        id=response_id,
        patient="Patient/p-" + response_id,
        content_hash="h",
        resource=orjson.dumps(make_response(answers, patient="Patient/p-" + response_id)).decode(),
        last_updated=now,
    )
    transition(record, ResponseState.RECEIVED, None, now=now)
    session.add(record)
    session.flush()
    score(session, response_id, load_knowledge(version))
    if state != ResponseState.SCORED:
        transition(record, state, "test", now=now)
    session.flush()
