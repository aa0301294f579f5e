"""The intake application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import REGISTRY

from intake import screening_results
from intake.errors import install_error_handlers
from intake.middleware import RequestContextMiddleware
from intake.routers import (
    bundle,
    code_system,
    metadata,
    ops,
    questionnaire,
    questionnaire_response,
)
from intake.routers import screening_results as screening_results_router
from shared.config import Settings, get_settings
from shared.metrics import PipelineCollector

_collector: PipelineCollector | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not settings.intake_tokens:
        raise RuntimeError("NEUROSCREEN_INTAKE_TOKENS is empty: no client could authenticate")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The intake only stores: the relay process (neuroscreen-relay) publishes.
        yield

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
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware, service="intake", max_body_bytes=settings.max_body_bytes
    )
    for module in (
        ops,
        metadata,
        questionnaire,
        code_system,
        questionnaire_response,
        screening_results_router,
        bundle,
    ):
        app.include_router(module.router)
    _register_pipeline_metrics(settings)
    return app


def _register_pipeline_metrics(settings: Settings) -> None:
    global _collector
    if _collector is None:
        _collector = PipelineCollector(settings)
        REGISTRY.register(_collector)
