"""``application/fhir+json`` responses, serialised with orjson."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

import orjson
from starlette.responses import Response

FHIR_JSON = "application/fhir+json; charset=utf-8"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


def version_headers(version_id: int, last_updated: Any) -> dict[str, str]:
    """ETag and Last-Modified as FHIR's RESTful API defines them for a resource version."""
    return {
        "ETag": f'W/"{version_id}"',
        "Last-Modified": format_datetime(last_updated, usegmt=True),
    }
