"""``neuroscreen-relay``: the outbox relay as its own process.

Moves committed outbox rows (new responses to score, scored responses to
alert, delayed alert retries) to the broker, and re-enqueues overdue work.
It is the only path from the database to the queues, so the HTTP intake only
stores: while the intake is down or being redeployed, screening → notify
hand-offs and notify retries carry on. Several replicas are safe: each batch
is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``.

``neuroscreen-relay --check`` is the health check: it passes while the loop
has completed a tick recently (a heartbeat file in the data dir).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path

from prometheus_client import start_http_server

from shared.config import Settings, get_settings
from shared.logs import configure_logging
from shared.outbox import PUBLISH_FAILURES, OutboxRelay
from shared.relay.publisher import celery_batch_publisher
from shared.relay.wakeup import Polling, PostgresNotifications, Wakeup
from shared.tasks import periodic_jobs

log = logging.getLogger("neuroscreen.relay")

RECOVERY_CHECK_SECONDS = 5.0
"""Longest sleep without a notification: overdue work is looked for this often."""
HEARTBEAT_STALE_SECONDS = 60.0


def heartbeat_path(settings: Settings) -> Path:
    return settings.data_dir / "relay.heartbeat"


def run(settings: Settings, stop: threading.Event) -> None:
    """Publish due jobs until ``stop`` is set; broker or database outages only back off."""
    relay = OutboxRelay(
        celery_batch_publisher(),
        redeliver_after_seconds=settings.redeliver_after_seconds,
        periodic=periodic_jobs(settings),
    )
    wakeup: Wakeup = (
        Polling(settings.relay_interval_seconds)
        if settings.uses_sqlite
        else PostgresNotifications(settings.database_url, settings.relay_interval_seconds)
    )
    heartbeat = heartbeat_path(settings)
    backoff = settings.relay_interval_seconds
    try:
        while not stop.is_set():
            try:
                relay.run_once()
                timeout = relay.seconds_until_next_due(RECOVERY_CHECK_SECONDS)
                backoff = settings.relay_interval_seconds
            except Exception as error:
                # Broker or database down: the rows stay; try again a little later.
                PUBLISH_FAILURES.inc()
                log.warning("outbox relay tick failed", extra={"error": type(error).__name__})
                backoff = min(backoff * 2, 5.0)
                timeout = backoff
            heartbeat.touch()
            wakeup.wait(timeout)
    finally:
        wakeup.close()


def check(settings: Settings) -> int:
    """Exit status for the health check: 0 while the loop ticked recently."""
    try:
        age = time.time() - heartbeat_path(settings).stat().st_mtime
    except FileNotFoundError:
        return 1
    return 0 if age < HEARTBEAT_STALE_SECONDS else 1


def main() -> None:
    settings = get_settings()
    if "--check" in sys.argv[1:]:
        sys.exit(check(settings))
    configure_logging("relay", settings.log_level)
    if settings.relay_metrics_port:
        start_http_server(settings.relay_metrics_port, addr="0.0.0.0")
    stop = threading.Event()

    def request_stop(*_args: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("outbox relay started")
    run(settings, stop)
