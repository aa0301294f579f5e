"""NeuroScreen as a CDS Hooks 2.0 service: the screening result inside the EHR's chart.

An EHR calls ``patient-view`` when a clinician opens a chart; NeuroScreen
answers with one card built from the patient's latest stored screening (never
re-scored). Modules, each with one job:

- ``models``: the CDS Hooks request and response bodies as pydantic models,
  written from HL7's logical StructureDefinitions (CDSHooksServices,
  CDSHooksRequest, CDSHooksResponse, CDSHooksFeedback) and their invariants;
- ``issuers``: the EHRs trusted to call (``NEUROSCREEN_CDS_ISSUERS_FILE``);
- ``trust``: checking the EHR-signed JWT every call carries;
- ``screenings``: reading the latest screening, recording cards and feedback;
- ``card``: the card itself (summary, detail, suggestions, override reasons);
- ``cors``: browser access for the configured origins only.
"""
