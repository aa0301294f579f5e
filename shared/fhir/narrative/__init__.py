"""Human-readable narrative (``Resource.text``) for every resource NeuroScreen writes.

An EHR shows a resource's narrative where it cannot render the structure, and
HL7 asks every resource to carry one (dom-6). Each narrative is rendered from
the resource itself by one Jinja2 template per resource type, with autoescape
on, so an answer or a display containing ``<`` or ``&`` stays text. Every
rendered div is checked against the FHIR narrative rules (:mod:`.rules`)
before it leaves this package: a template that broke them is a bug and fails
loudly.

Public surface: :func:`with_narrative`, :func:`narrative_div`,
:func:`check_narrative` and :class:`NarrativeError`.
"""

from __future__ import annotations

from shared.fhir.narrative.render import NARRATED_TYPES, narrative_div, with_narrative
from shared.fhir.narrative.rules import NarrativeError, check_narrative

__all__ = [
    "NARRATED_TYPES",
    "NarrativeError",
    "check_narrative",
    "narrative_div",
    "with_narrative",
]
