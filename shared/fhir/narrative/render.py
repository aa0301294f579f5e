"""Rendering a resource's narrative from the resource itself, one template per type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from shared.fhir.narrative.rules import check_narrative

NARRATED_TYPES = frozenset(
    {"RiskAssessment", "Observation", "ServiceRequest", "Task", "Communication", "DiagnosticReport"}
)
"""Every resource type NeuroScreen writes (the EHR's QuestionnaireResponse is its own)."""


def concept_text(concept: Mapping[str, Any] | None) -> str:
    """A CodeableConcept as a person reads it: its text, else the first display or code."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding["code"])
    return ""


def _reference_text(reference: Mapping[str, Any] | None) -> str:
    """A Reference for a reader: its display, else the reference unless it is a placeholder."""
    if not reference:
        return ""
    target = str(reference.get("reference", ""))
    if reference.get("display"):
        return str(reference["display"])
    return "" if target.startswith("urn:") else target


_ENVIRONMENT = Environment(
    loader=PackageLoader("shared.fhir.narrative", "templates"),
    autoescape=True,  # every value is text, never markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
_ENVIRONMENT.filters["concept"] = concept_text
_ENVIRONMENT.filters["ref"] = _reference_text


def narrative_div(resource: Mapping[str, Any]) -> str:
    """The checked XHTML div for ``resource`` (one of :data:`NARRATED_TYPES`)."""
    kind = resource["resourceType"]
    if kind not in NARRATED_TYPES:
        raise ValueError(f"NeuroScreen writes no narrative for {kind}")
    template = _ENVIRONMENT.get_template(f"{kind}.xhtml")
    div = " ".join(template.render(r=resource).split())
    check_narrative(div)
    return div


def with_narrative(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``resource`` with ``text`` (status generated) after ``id``/``meta``."""
    text = {"status": "generated", "div": narrative_div(resource)}
    head = {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}
    rest = {k: v for k, v in resource.items() if k not in head and k != "text"}
    return {**head, "text": text, **rest}
