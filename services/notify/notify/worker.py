"""Celery entry point: ``celery -A notify.worker worker -Q notify``."""

from __future__ import annotations

import logging

from celery.signals import setup_logging, worker_ready

from notify.ehr_auth import ehr_auth
from shared.broker import get_celery
from shared.config import get_settings
from shared.logs import configure_logging
from shared.worker_ready import announce_readiness

app = get_celery()
app.autodiscover_tasks(["notify"], related_name="tasks", force=True)
announce_readiness("notify")
# An unreadable or unusable EHR key file stops the worker at boot, not at the first alert.
ehr_auth(get_settings())


@setup_logging.connect
def _json_logs(**_kwargs: object) -> None:
    configure_logging("notify", get_settings().log_level)


@worker_ready.connect
def _say_where_alerts_go(**_kwargs: object) -> None:
    settings = get_settings()
    log = logging.getLogger("neuroscreen.notify")
    if settings.ehr_configured:
        log.info(
            "alerts go to the EHR", extra={"url": settings.ehr_base_url, "auth": settings.ehr_auth}
        )
        if not settings.public_base_url:
            log.warning(
                "NEUROSCREEN_PUBLIC_BASE_URL is not set: an alert whose attachment the EHR "
                "refuses cites NeuroScreen's copy by identifier only, not by URL"
            )
    else:
        log.warning(
            "NEUROSCREEN_EHR_BASE_URL is not set: alerts are kept in NeuroScreen's own store "
            "(state 'held'; list them with GET /admin/deliveries?state=held)"
        )
