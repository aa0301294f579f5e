"""Where notify may send the EHR's bearer token: the EHR base's origin, nowhere else.

A FHIR server hands back URLs (``link[next]`` of a search page, a discovered
``token_endpoint``) and notify follows some of them with credentials. A URL on
another origin (RFC 6454: scheme, host and port) is refused before anything is
sent, so a misbehaving or compromised EHR cannot lead the access token, a client
assertion or a client secret to a host of its choosing (issue 18, items 2 and 10).
"""

from __future__ import annotations

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port filled in."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS.get(parsed.scheme)


def same_origin(url: str | httpx.URL, base: str | httpx.URL) -> bool:
    return origin(url) == origin(base)
