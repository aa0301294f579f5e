"""Operations endpoints: liveness, readiness and Prometheus metrics (no token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from shared.db import get_engine

router = APIRouter()


@router.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and the broker accepts a connection."""
    checks = {"database": _database_ok(), "broker": _broker_ok(request)}
    status = 200 if all(checks.values()) else 503
    return JSONResponse({"status": "ready" if status == 200 else "unavailable", **checks}, status)


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _broker_ok(request: Request) -> bool:
    from shared.broker import get_celery

    try:
        with get_celery().connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return False
    return True
