"""The floor for the intake benchmark: FastAPI + uvicorn doing only the unavoidable work.

``POST /fhir/QuestionnaireResponse`` reads the body, parses it with orjson, gives it
an id and answers ``201`` with the resource, as the intake does by default
(``Prefer: return=representation``). No auth, validation, database or queue: the
ratio intake/bare in ``bench/intake.py`` is the price of those.

    uvicorn --app-dir bench bare_app:app --workers 1 --no-access-log
"""

from __future__ import annotations

import uuid

import orjson
from fastapi import FastAPI, Request, Response

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/fhir/QuestionnaireResponse", status_code=201)
async def create(request: Request) -> Response:
    resource = orjson.loads(await request.body())
    resource["id"] = str(uuid.uuid4())
    return Response(orjson.dumps(resource), status_code=201, media_type="application/fhir+json")


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b"ok", media_type="text/plain")
