"""Celery entry point: ``celery -A screening.worker worker -Q screening``."""

from __future__ import annotations

from celery.signals import setup_logging

from shared.broker import get_celery
from shared.config import get_settings
from shared.logs import configure_logging
from shared.worker_ready import announce_readiness

app = get_celery()
app.autodiscover_tasks(["screening"], related_name="tasks", force=True)
announce_readiness("screening")


@setup_logging.connect
def _json_logs(**_kwargs: object) -> None:
    configure_logging("screening", get_settings().log_level)
