"""What every FHIR router needs: the base URL, media types, ``Prefer`` and Bundles."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request

from intake.fhir_response import FhirResponse, version_headers
from intake.search import SearchQuery, page_link
from shared.fhir.outcome import UnsupportedMediaType, information

JSON_MEDIA_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
ReturnPreference = Literal["minimal", "representation", "OperationOutcome"]


def base_url(request: Request) -> str:
    """The FHIR base clients address, for ``Location``, ``fullUrl``, token ``iss``/``aud``.

    Never the request's ``Host`` header: a forged one would name its own host in links
    and in the tokens' audience (issue 18, item 11). See ``Settings.fhir_base_url``.
    """
    return request.app.state.settings.fhir_base_url


def root_url(request: Request) -> str:
    """Where ``/cds-services`` and the report links live: the FHIR base without ``/fhir``."""
    return base_url(request).removesuffix("/fhir")


def require_json_body(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "Send FHIR JSON with Content-Type: application/fhir+json (XML is not supported)"
        )


def return_preference(request: Request) -> ReturnPreference:
    for part in request.headers.get("prefer", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "return" and value.strip('"') in ("minimal", "OperationOutcome"):
            return value.strip('"')  # type: ignore[return-value]
    return "representation"


def strict_handling(request: Request) -> bool:
    return "handling=strict" in request.headers.get("prefer", "")


def write_response(
    request: Request,
    resource: dict[str, Any],
    *,
    status: int,
    location: str,
    version_id: int,
    last_updated: Any,
    message: str,
) -> FhirResponse:
    """A create's answer: status, ``Location``/``ETag``/``Last-Modified`` and the preferred body."""
    headers = {"Location": location, **version_headers(version_id, last_updated)}
    preference = return_preference(request)
    if preference == "minimal":
        return FhirResponse(None, status_code=status, headers=headers)
    if preference == "OperationOutcome":
        return FhirResponse(information(message), status_code=status, headers=headers)
    return FhirResponse(resource, status_code=status, headers=headers)


def searchset(
    request: Request,
    resource_type: str,
    resources: list[dict[str, Any]],
    total: int,
    query: SearchQuery,
    included: list[dict[str, Any]] | None = None,
) -> FhirResponse:
    """A ``searchset`` Bundle with ``self``/``next``/``previous`` paging links."""
    base = base_url(request)
    search_base = f"{base}/{resource_type}"
    links = [{"relation": "self", "url": page_link(search_base, query, query.offset)}]
    if query.count and query.offset + query.count < total:
        next_offset = query.offset + query.count
        links.append({"relation": "next", "url": page_link(search_base, query, next_offset)})
    if query.offset > 0:
        previous = max(0, query.offset - max(query.count, 1))
        links.append({"relation": "previous", "url": page_link(search_base, query, previous)})
    entries = [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    entries += [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "include"},
        }
        for r in included or []
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }
    return FhirResponse(bundle)
