"""FHIR R4 output of a screening: Observation, RiskAssessment, draft ServiceRequests.

The engine's :class:`~screening.result.ScreeningResult` has no FHIR in it;
this package is the one place that knows how it is coded. External codes
(SNOMED CT, LOINC, HL7) and their verification status live in
``terminology.yaml``; project codes and displays in ``shared.fhir.codesystems``.

Public surface: :func:`build_screening_resources` and :class:`ScreeningResources`.
"""

from __future__ import annotations

from screening.output.resources import ScreeningResources, build_screening_resources

__all__ = ["ScreeningResources", "build_screening_resources"]
