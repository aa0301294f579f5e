"""A constant-time stand-in for the EHR, to measure NeuroScreen without the test EHR's costs.

The Medplum test EHR (tests/ehr) answers a conditional create by scanning every stored
resource of the type, so its transactions get slower with every alert written (from
~0.1 s to seconds within a minute of load). ``bench/e2e.py --ehr stub`` points notify at
this app instead: it accepts the same transaction Bundles of conditional creates
(``ifNoneExist`` on an identifier, honoured through a dict, so a retry still matches),
answers with a ``transaction-response`` carrying each entry's ``Type/id``, and has the
two admin reads the benchmark's EHR spot-check uses. It validates nothing.

    uvicorn --app-dir bench stub_ehr:app --port 8090   # token: env STUB_EHR_TOKEN
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
TOKEN = os.environ.get("STUB_EHR_TOKEN", "")
by_identifier: dict[tuple[str, str], str] = {}
"""(resource type, "system|value") -> id: what a conditional create matches."""
stored: Counter[str] = Counter()


def fhir(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/fhir+json")


def authorized(request: Request) -> bool:
    return not TOKEN or request.headers.get("authorization") == f"Bearer {TOKEN}"


def create(resource_type: str, resource: dict[str, Any], if_none_exist: str | None) -> tuple:
    """Conditional create on ``identifier=system|value``: returns (status, id)."""
    key = None
    if if_none_exist and if_none_exist.startswith("identifier="):
        key = (resource_type, if_none_exist.removeprefix("identifier="))
        if key in by_identifier:
            return "200 OK", by_identifier[key]
    resource_id = str(uuid.uuid4())
    if key is not None:
        by_identifier[key] = resource_id
    stored[resource_type] += 1
    return "201 Created", resource_id


@app.post("/fhir")
@app.post("/fhir/")
async def transaction(request: Request) -> Response:
    if not authorized(request):
        return fhir({"resourceType": "OperationOutcome", "issue": []}, 401)
    bundle = orjson.loads(await request.body())
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        status, resource_id = create(
            resource["resourceType"], resource, entry.get("request", {}).get("ifNoneExist")
        )
        location = f"{resource['resourceType']}/{resource_id}/_history/1"
        entries.append({"response": {"status": status, "location": location}})
    return fhir({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


@app.post("/fhir/Patient")
async def create_patient(request: Request) -> Response:
    _, resource_id = create("Patient", {}, None)
    return fhir({"resourceType": "Patient", "id": resource_id}, 201)


@app.get("/admin/stats")
async def stats() -> Response:
    return fhir({"resources": dict(stored)})


@app.get("/admin/fhir/{resource_type}")
async def search(resource_type: str, identifier: str) -> Response:
    found = by_identifier.get((resource_type, identifier))
    entries = [{"resource": {"resourceType": resource_type, "id": found}}] if found else []
    return fhir({"resourceType": "Bundle", "type": "searchset", "entry": entries})


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b"ok", media_type="text/plain")
