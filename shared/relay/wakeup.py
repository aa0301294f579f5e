"""What the relay waits on between ticks.

On PostgreSQL a dedicated connection ``LISTEN``\\ s on the outbox channel:
:func:`shared.outbox.enqueue` sends ``NOTIFY`` in the writer's transaction,
so the relay wakes the moment a job commits. On SQLite (the embedded
default), which has no notifications, the relay polls.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import psycopg

from shared.outbox import NOTIFY_CHANNEL

log = logging.getLogger("neuroscreen.relay")


class Wakeup(Protocol):
    def wait(self, timeout: float) -> None:
        """Return when new jobs may be due, or after ``timeout`` seconds at the latest."""

    def close(self) -> None: ...


class Polling:
    """SQLite: no notifications, so look again every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self._interval = interval

    def wait(self, timeout: float) -> None:
        time.sleep(min(timeout, self._interval))

    def close(self) -> None:
        return None


class PostgresNotifications:
    """PostgreSQL: sleep until a ``NOTIFY`` arrives (or ``timeout``); reconnect if cut."""

    def __init__(self, database_url: str, fallback_interval: float) -> None:
        self._url = database_url.replace("postgresql+psycopg://", "postgresql://")
        self._fallback = fallback_interval
        self._connection: psycopg.Connection | None = None

    def wait(self, timeout: float) -> None:
        try:
            if self._connection is None or self._connection.closed:
                # Jobs committed before LISTEN sent no notification we will see: look now.
                self._connect()
                return
            connection = self._connection
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                break
            # Commits arriving while the relay publishes pile up: take them all at once.
            for _ in connection.notifies(timeout=0.0):
                pass
        except psycopg.Error as error:
            # Without the listener, poll until the database lets us LISTEN again.
            log.warning("relay listener lost, polling", extra={"error": type(error).__name__})
            self.close()
            time.sleep(min(timeout, self._fallback))

    def _connect(self) -> None:
        self._connection = psycopg.connect(self._url, autocommit=True, connect_timeout=3)
        self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
