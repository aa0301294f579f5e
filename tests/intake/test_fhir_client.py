"""An EHR integrator's view: an independent FHIR client library (fhirpy) against the intake."""

from __future__ import annotations

import uuid

from fhirpy import SyncFHIRClient
from fixtures.responses import make_response
from support.stack import TOKEN, Stack


def test_fhirpy_creates_reads_and_searches(intake_stack: Stack):
    client = SyncFHIRClient(intake_stack.base_url, authorization=f"Bearer {TOKEN}")
    patient = f"Patient/{uuid.uuid4().hex[:8]}"
    data = make_response({"numbness": True, "weakness": True, "age": 47}, patient=patient)
    resource = client.resource(
        "QuestionnaireResponse", **{k: v for k, v in data.items() if k != "resourceType"}
    )
    resource.save()
    assert resource.id
    fetched = client.reference("QuestionnaireResponse", resource.id).to_resource()
    assert fetched["subject"]["reference"] == patient
    found = client.resources("QuestionnaireResponse").search(subject=patient).fetch_all()
    assert [r.id for r in found] == [resource.id]
    questionnaire = (
        client.resources("Questionnaire").search(url=data["questionnaire"].split("|")[0]).first()
    )
    assert questionnaire["id"] == "immune-neuropathy-screen"
