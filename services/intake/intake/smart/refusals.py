"""Token refusals nobody can be held to: counted, and audited as one event per interval.

A refused token request names its client in an unverified ``iss``. When that client
is registered, the refusal is audited on its own (the client's owner wants to see
someone trying its id). When it is not, or when the request was refused unread
(429), the claimed name is the attacker's choice: an AuditEvent each would let junk
requests fill the audit trail with names of their choosing (issue 18, item 4). They
are counted instead (``neuroscreen_token_refusals_total{client="unregistered"}``)
and written as one AuditEvent per interval, with the number and the period.
"""

from __future__ import annotations

import threading
from datetime import datetime

from prometheus_client import Counter

from shared.models.base import utcnow

REFUSALS = Counter(
    "neuroscreen_token_refusals_total",
    "Token requests refused, by whether the claimed client is registered",
    ["client"],
)
AGGREGATE_SECONDS = 60.0


class UnregisteredRefusals:
    """Refusals since the last audit event; thread-safe (token requests audit in a pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._first: datetime | None = None
        self._last: datetime | None = None

    def note(self) -> None:
        REFUSALS.labels(client="unregistered").inc()
        now = utcnow()
        with self._lock:
            self._count += 1
            self._first = self._first or now
            self._last = now

    def take(self) -> tuple[int, datetime, datetime] | None:
        """The count and period since the last call, and start afresh; None if nothing."""
        with self._lock:
            if not self._count or self._first is None or self._last is None:
                return None
            taken = (self._count, self._first, self._last)
            self._count, self._first, self._last = 0, None, None
            return taken
