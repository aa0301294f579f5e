"""The notify admin application: health, metrics, the dead-letter API and NeuroScreen's JWKS."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from notify import admin
from notify.console import routes as console_routes
from notify.errors import install_error_handlers
from notify.signing_keys import load_public_jwks
from shared.config import Settings, get_settings
from shared.db import get_engine
from shared.metrics import PipelineCollector

_collector: PipelineCollector | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not settings.notify_tokens:
        raise RuntimeError(
            "NEUROSCREEN_NOTIFY_TOKENS is empty (the intake's static tokens stand in only "
            "when NEUROSCREEN_INTAKE_TOKEN_SCOPES includes system/neuroscreen.admin)"
        )
    app = FastAPI(title="NeuroScreen notify admin", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.include_router(admin.router)
    app.include_router(console_routes.router)
    install_error_handlers(app)
    # Public keys only (NEUROSCREEN_EHR_PUBLIC_KEYS_FILE), loaded at start-up so that a bad
    # file stops the API at boot. The private key file is never opened here: only the
    # notify worker signs, so only it holds the key (issue 18, item 11).
    jwks = (
        load_public_jwks(settings.ehr_public_keys_file, settings.ehr_key_id)
        if settings.ehr_public_keys_file
        else {"keys": []}
    )

    @app.get("/.well-known/jwks.json")
    def jwks_document() -> JSONResponse:
        """The JWK Set the EHR verifies our client assertions with (Epic: the JWK Set URL).

        No auth: an EHR fetches it anonymously. Every key in the file is listed, so that
        during a rotation assertions signed by either key verify.
        """
        return JSONResponse(
            jwks, headers={"Cache-Control": "public, max-age=300"}, media_type="application/json"
        )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            with get_engine().connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "unavailable", "database": False}, 503)
        return JSONResponse({"status": "ready", "database": True})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    global _collector
    if _collector is None:
        _collector = PipelineCollector(settings)
        REGISTRY.register(_collector)
    return app
