"""The intake application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import REGISTRY

from intake import screening_results
from intake.cds.cors import CdsServicesCors
from intake.cds.issuers import IssuerRegistry
from intake.errors import install_error_handlers
from intake.middleware import RequestContextMiddleware
from intake.openapi import install_openapi
from intake.routers import (
    audit_event,
    bulk_import,
    bundle,
    cds_hooks,
    code_system,
    metadata,
    ops,
    questionnaire,
    questionnaire_response,
    rescreen,
    smart,
)
from intake.routers import report_links as report_links_router
from intake.routers import screening_report as screening_report_router
from intake.routers import screening_results as screening_results_router
from intake.smart.lifecycle import install_smart, smart_running
from intake.store import open_store
from shared.config import Settings, get_settings
from shared.logs import configure_logging
from shared.metrics import PipelineCollector, pipeline_collector

_collector: PipelineCollector | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Each uvicorn worker process is started afresh: its logs need the JSON format too.
    configure_logging("intake", settings.log_level)
    if not settings.intake_tokens and settings.smart_clients_file is None:
        raise RuntimeError(
            "Neither NEUROSCREEN_INTAKE_TOKENS nor NEUROSCREEN_SMART_CLIENTS_FILE is set: "
            "no client could authenticate"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The intake only stores: the relay process (neuroscreen-relay) publishes.
        app.state.store = await open_store(settings)
        try:
            async with smart_running(app):
                yield
        finally:
            await app.state.store.close()

    app = FastAPI(
        title="NeuroScreen intake",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.derived_search = screening_results.SEARCH_PARAMETERS
    install_smart(app, settings)
    # CDS Hooks callers share the SMART machinery: JWKS client, replay store, SIGHUP reload.
    app.state.cds_issuers = IssuerRegistry(
        settings.cds_issuers_file, app.state.jwks_http, app.state.clients.policy
    )
    install_error_handlers(app)
    app.add_middleware(CdsServicesCors, origins=settings.cds_allowed_origins)
    app.add_middleware(
        RequestContextMiddleware,
        service="intake",
        max_body_bytes=settings.max_body_bytes,
        # $import holds each line to max_body_bytes and the whole body to its own limit.
        unlimited_paths=(bulk_import.IMPORT_PATH,),
    )
    for module in (
        ops,
        metadata,
        smart,
        questionnaire,
        code_system,
        rescreen,
        bulk_import,
        questionnaire_response,
        screening_results_router,
        screening_report_router,
        report_links_router,
        audit_event,
        bundle,
        cds_hooks,
    ):
        app.include_router(module.router)
    install_openapi(app)
    _register_pipeline_metrics(settings)
    return app


def _register_pipeline_metrics(settings: Settings) -> None:
    global _collector
    if _collector is None:
        _collector = pipeline_collector(settings)
        REGISTRY.register(_collector)
