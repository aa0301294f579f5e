"""Operations endpoints: liveness, readiness and Prometheus metrics (no token)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from shared.config import Settings
from shared.db import get_engine
from shared.metrics import pipeline_collector

router = APIRouter()


@router.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz() -> JSONResponse:
    """Ready when the database answers: the intake only stores (the relay publishes), so
    a broker outage does not stop it accepting responses."""
    checks = {"database": _database_ok()}
    status = 200 if all(checks.values()) else 503
    return JSONResponse({"status": "ready" if status == 200 else "unavailable", **checks}, status)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    registry = metrics_registry(request.app.state.settings)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def metrics_registry(settings: Settings) -> CollectorRegistry:
    """This process's registry; with several workers, every worker's counters summed."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(pipeline_collector(settings))  # read from the database: once, not per worker
    return registry


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
