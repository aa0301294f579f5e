"""The URLs NeuroScreen puts in ``system``, ``url`` and ``identifier`` elements.

Every service writes or reads these, and EHRs, saved resources and external
test suites match on them, so each is spelled exactly once, here. The project's
own CodeSystems live under :data:`CODE_SYSTEM_BASE`; their resources are in
:mod:`shared.fhir.codesystems` (served at ``/fhir/CodeSystem/{id}``). The codes
inside them are data, not constants: only the few codes that code refers to by
name are listed below.
"""

from __future__ import annotations

# --- The screening Questionnaire (questionnaire contract v1) -----------------

QUESTIONNAIRE_CANONICAL = "http://neuroscreen.org/fhir/Questionnaire/immune-neuropathy-screen"
QUESTIONNAIRE_VERSION = "1.0.0"

# --- The project's CodeSystems ----------------------------------------------

CODE_SYSTEM_BASE = "http://neuroscreen.org/fhir/CodeSystem/"
"""Every NeuroScreen CodeSystem URL is this base plus the CodeSystem's id."""

SCREEN_ANSWERS = CODE_SYSTEM_BASE + "screen-answers"
"""Answer codes of the Questionnaire's choice items; also names the six conditions."""
SCREENING_TIER = CODE_SYSTEM_BASE + "screening-tier"
NEUROPATHY_PATTERN = CODE_SYSTEM_BASE + "neuropathy-pattern"
WORKUP = CODE_SYSTEM_BASE + "workup"
SCREENING_OBSERVATION = CODE_SYSTEM_BASE + "screening-observation"
"""What NeuroScreen measures or assesses: the DN4-interview score and the screen itself."""
TASKS = CODE_SYSTEM_BASE + "tasks"
"""Task.code values for the work NeuroScreen asks people to do."""
CDS_OVERRIDE_REASON = CODE_SYSTEM_BASE + "cds-override-reason"
"""Why a clinician dismissed the CDS Hooks card (overrideReasons, feedback metric)."""
KNOWLEDGE_BASE = CODE_SYSTEM_BASE + "knowledge-base"
"""RiskAssessment.method: the code is the knowledge-base version that scored the response.

Versions are released with the screening service, so this system has no
CodeSystem resource with a fixed list of concepts.
"""

DN4_INTERVIEW_SCORE = "dn4-interview-score"
"""Observation.code (system :data:`SCREENING_OBSERVATION`). No LOINC code for the
DN4 interview has been verified, so none is used."""
IMMUNE_NEUROPATHY_SCREEN = "immune-neuropathy-screen"
"""RiskAssessment.code (system :data:`SCREENING_OBSERVATION`)."""
REVIEW_SCREENING = "review-screening"
"""Task.code (system :data:`TASKS`): a clinician reviews one screening result."""

# --- Identifiers and extensions ---------------------------------------------

SCREENING_OUTPUT_IDENTIFIER = "http://neuroscreen.org/fhir/identifier/screening-output"
"""Business identifier of every resource the screening derives from a response.

Values are deterministic (e.g. ``risk-assessment/<response id>``), so the
notify service can create them in an EHR with ``If-None-Exist`` and a retry
never makes a duplicate.
"""

CODE_VERIFICATION_EXTENSION = "http://neuroscreen.org/fhir/StructureDefinition/code-verification"
"""On an external Coding: how far its code/display pair was checked (valueCode
``verified`` or ``corroborated``). Codes that could not be verified are never
emitted as Codings at all; a note names them instead."""

# --- External systems --------------------------------------------------------

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATION_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# ServiceRequest.priority is a plain code (routine | urgent | asap | stat) bound to
# http://hl7.org/fhir/ValueSet/request-priority, so it needs no system here.

# --- Workflow policy shared by screening (ServiceRequest) and notify (Task, Communication) ---

REQUEST_PRIORITY_BY_TIER = {
    "urgent": "stat",
    "high": "urgent",
    "moderate": "routine",
    "low": "routine",
}
"""Screening tier → FHIR request-priority (routine | urgent | asap | stat). An urgent tier
means same-day assessment, so everything it asks for is ``stat``."""

SCREENING_STATUS_EXTENSION = "http://neuroscreen.org/fhir/StructureDefinition/screening-status"
"""Added to a QuestionnaireResponse when the intake serves it: where the response is in the
pipeline (``state``, ``changed``, ``detail``), what was written to the EHR
(``ehrResource``) and what became of the alert Task there (``taskDue``,
``taskStatus``, ``escalation``). Never stored with the response, never forwarded."""
