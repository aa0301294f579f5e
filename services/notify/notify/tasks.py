"""The notify tasks: thin wrappers over :func:`~notify.delivery.deliver` (claim, call the
EHR, settle) and :func:`~notify.follow_up.follow_up` (periodic, published by the relay).

No Celery retries: EHR failures are retried through the outbox, and a run that
fails on the database leaves the response overdue for the relay to enqueue
again (README, "Delivery guarantees").
"""

from __future__ import annotations

from functools import lru_cache

from notify.delivery import deliver
from notify.ehr_auth import ehr_auth
from notify.ehr_client import EhrClient
from notify.follow_up import follow_up
from notify.routing import CoordinatorRouting, load_routing
from shared.broker import get_celery
from shared.config import get_settings
from shared.db import session_scope
from shared.tasks import DELIVER_ALERT, FOLLOW_UP_TASKS

app = get_celery()


@lru_cache
def routing() -> CoordinatorRouting:
    settings = get_settings()
    return load_routing(settings.coordinator, settings.routing_file)


@lru_cache
def ehr_client() -> EhrClient | None:
    settings = get_settings()
    if not settings.ehr_configured:
        return None
    return EhrClient(
        settings.ehr_base_url,
        auth=ehr_auth(settings),
        timeout=settings.ehr_timeout_seconds,
        max_search_pages=settings.ehr_max_search_pages,
    )


@app.task(name=DELIVER_ALERT.name)
def deliver_alert(response_id: str) -> None:
    deliver(session_scope, response_id, get_settings(), routing(), ehr_client())


@app.task(name=FOLLOW_UP_TASKS.name)
def follow_up_tasks() -> None:
    """Periodic (the relay publishes it): no retries here, the next interval is the retry."""
    with session_scope() as session:
        follow_up(session, get_settings(), ehr_client())
