"""The intake service: NeuroScreen's FHIR R4 front door for EHRs."""
