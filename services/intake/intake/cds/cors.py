"""Browser access to ``/cds-services`` for the configured origins only.

Web-based EHRs call CDS services from the clinician's browser, which first
sends a CORS preflight (``OPTIONS``) without credentials; it is answered here,
before routing and authentication, with ``Access-Control-Allow-Origin`` for a
listed origin only (``NEUROSCREEN_CDS_ALLOWED_ORIGINS``) and the headers a
call needs (``Authorization``, ``Content-Type``). The FHIR API is not opened
to browsers: only paths under ``/cds-services`` pass through this.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/cds-services"


class CdsServicesCors:
    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
