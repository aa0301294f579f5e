"""Fair use: a token bucket per client, so one misbehaving EHR cannot starve the others.

Buckets live in the process (no round trip on the hot path); with N uvicorn
workers a client gets up to N times the configured rate, which deploy/README.md
accounts for. A refused request is told when to come back (``Retry-After``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from shared.fhir.outcome import TooManyRequests


class RateLimiter:
    def __init__(
        self, per_second: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """0 and one request taken from ``client``'s bucket, or seconds until one is free."""
        if self.per_second <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.per_second)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.per_second

    def check(self, client: str) -> None:
        """Raise a 429 (with ``Retry-After``) when ``client`` is over its rate."""
        wait = self.retry_after(client)
        if wait > 0:
            raise TooManyRequests(
                "Too many requests from this client; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
