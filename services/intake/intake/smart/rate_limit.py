"""Fair use: a token bucket per key, so one misbehaving party cannot starve the others.

Buckets live in the process (no round trip on the hot path); with N uvicorn
workers a client gets up to N times the configured rate, which deploy/README.md
accounts for. A refused request is told when to come back (``Retry-After``).
Memory is bounded: past ``max_keys`` buckets the least recently used is dropped
(its key starts again with a full bucket), so random keys cannot grow the map.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.fhir.outcome import TooManyRequests

MAX_KEYS = 10_000


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def retry_after(self, key: str) -> float:
        """0 and one request taken from ``key``'s bucket, or seconds until one is free."""
        if self.per_second <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.per_second)
            taken = tokens >= 1
            self._buckets[key] = (tokens - 1 if taken else tokens, now)  # now the newest
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return 0.0 if taken else (1 - tokens) / self.per_second

    def check(self, key: str) -> None:
        """Raise a 429 (with ``Retry-After``) when ``key`` is over its rate."""
        wait = self.retry_after(key)
        if wait > 0:
            raise TooManyRequests(
                "Too many requests from this client; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def peer_key(host: str | None) -> str:
    """The rate-limit key of a peer address: the address, or its /64 for IPv6 (one
    host is usually given a whole /64, so single IPv6 addresses cost an attacker nothing)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
