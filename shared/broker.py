"""The Celery application every process uses, configured for "nothing lost".

- ``acks_late`` + ``reject_on_worker_lost``: a job is removed from the broker
  only after its task finished, so a killed worker's job runs again.
- prefetch 1: a worker holds one unacknowledged job at a time.
- the Redis visibility timeout is longer than any task: retries wait in the
  database (outbox ``available_at``), not in Celery countdowns.
- ``worker_soft_shutdown_timeout`` lets a deploy finish the job in hand.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from shared.config import Settings, get_settings
from shared.db import keep_sqlite_private
from shared.tasks import ROUTES


def make_celery(settings: Settings) -> Celery:
    if settings.broker_url.startswith("sqla+sqlite"):
        keep_sqlite_private(settings.broker_url.removeprefix("sqla+"))
    app = Celery("neuroscreen", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_routes={name: {"queue": route.queue} for name, route in ROUTES.items()},
        task_default_queue="screening",
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings),
        worker_soft_shutdown_timeout=30.0,
        worker_enable_soft_shutdown_on_idle=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_time_limit=300,
        task_soft_time_limit=240,
    )
    return app


def _transport_options(settings: Settings) -> dict[str, object]:
    if not settings.broker_url.startswith(("redis://", "rediss://")):
        # kombu's SQLAlchemy transport hands its options to create_engine: give it none.
        return {}
    return {
        "visibility_timeout": settings.broker_visibility_timeout_seconds,
        # A worker consuming several queues empties them in the order given, so one
        # started with -Q screening,screening-bulk takes a re-screening or backlog job
        # only when no live response waits (make run runs a worker per queue instead).
        "queue_order_strategy": "priority",
        # Fail fast while Redis is down: the outbox keeps the job meanwhile.
        "socket_connect_timeout": 3,
    }


@lru_cache
def get_celery() -> Celery:
    return make_celery(get_settings())
