"""The intake application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import REGISTRY

from intake import screening_results
from intake.errors import install_error_handlers
from intake.group_commit import GroupCommitter
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
from shared.logs import configure_logging
from shared.metrics import PipelineCollector, pipeline_collector

_collector: PipelineCollector | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Each uvicorn worker process is started afresh: its logs need the JSON format too.
    configure_logging("intake", settings.log_level)
    if not settings.intake_tokens:
        raise RuntimeError("NEUROSCREEN_INTAKE_TOKENS is empty: no client could authenticate")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The intake only stores: the relay process (neuroscreen-relay) publishes.
        # On PostgreSQL creates go through the group commit; SQLite (embedded default,
        # one writer anyway) keeps the synchronous path in the thread pool.
        committer = None
        if not settings.uses_sqlite:
            committer = GroupCommitter(
                settings.database_url,
                max_wait=settings.group_commit_wait_seconds,
                max_rows=settings.group_commit_max_rows,
            )
            committer.start()
        app.state.group_commit = committer
        yield
        if committer is not None:
            await committer.close()

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
        _collector = pipeline_collector(settings)
        REGISTRY.register(_collector)
