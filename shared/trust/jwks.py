"""Key sets: inline, or fetched from a ``jwks_uri`` with httpx.

A fetched set is cached as long as its ``Cache-Control: max-age`` says (within
bounds), refetched early when a token names an unknown ``kid`` (at most once
per ``refetch_interval``, so a flood of made-up kids cannot turn us into a
load generator against the EHR), and kept when a refetch fails: a JWKS
endpoint that is down must not lock out a client whose keys we already have.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from shared.trust.errors import AmbiguousKey, KeysUnavailable, UnknownKey

log = logging.getLogger("neuroscreen.trust.jwks")

VerificationKey = RSAKey | ECKey
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class FetchPolicy:
    timeout_seconds: float = 5.0
    max_bytes: int = 64 * 1024
    default_ttl_seconds: float = 300.0
    """When the response has no ``max-age``."""
    min_ttl_seconds: float = 10.0
    max_ttl_seconds: float = 24 * 3600.0
    refetch_interval_seconds: float = 30.0
    """At most one fetch this often for unknown kids, and after a failed fetch."""
    https_only: bool = False
    """Production: a key set fetched over plain http could be swapped on the way."""


class KeySource(Protocol):
    async def key_for(self, kid: str) -> VerificationKey: ...


def select_key(keys: list[dict[str, Any]], kid: str) -> VerificationKey | None:
    """The one public RSA or EC key with ``kid``; two with the same ``kid`` are refused."""
    matching = [key for key in keys if isinstance(key, dict) and key.get("kid") == kid]
    if len(matching) > 1:
        raise AmbiguousKey("two keys in the key set share the kid")
    if not matching:
        return None
    public = {k: v for k, v in matching[0].items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
    if public.get("kty") not in ("RSA", "EC"):
        raise UnknownKey("the key with this kid is not an RSA or EC key")
    try:
        return JWKRegistry.import_key(public)  # type: ignore[return-value]
    except (JoseError, ValueError, TypeError):
        raise UnknownKey("the key with this kid cannot be imported") from None


def _keys_of(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    return document["keys"]


class InlineKeys:
    """A key set registered inline (``jwks`` in the clients file)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.keys = _keys_of(jwks)

    async def key_for(self, kid: str) -> VerificationKey:
        key = select_key(self.keys, kid)
        if key is None:
            raise UnknownKey("no key with this kid")
        return key


class FetchedKeys:
    """A key set fetched from ``url``; one instance per URL, shared across requests."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        policy: FetchPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.client = client
        self.policy = policy or FetchPolicy()
        self.clock = clock
        self.keys: list[dict[str, Any]] | None = None
        self.fresh_until = 0.0
        self.last_attempt: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> VerificationKey:
        if self.keys is None or self.clock() >= self.fresh_until:
            await self._refresh()
        key = select_key(self.keys or [], kid)
        if key is None and self._may_refetch():
            await self._refresh()
            key = select_key(self.keys or [], kid)
        if key is None:
            if self.keys is None:
                raise KeysUnavailable("the key set could not be fetched")
            raise UnknownKey("no key with this kid")
        return key

    def _may_refetch(self) -> bool:
        return (
            self.last_attempt is None
            or self.clock() - self.last_attempt >= self.policy.refetch_interval_seconds
        )

    async def _refresh(self) -> None:
        async with self._lock:
            if not self._may_refetch():
                return  # fetched moments ago (by a request we waited for, or it failed)
            self.last_attempt = self.clock()
            try:
                keys, ttl = await self._fetch()
            except (httpx.HTTPError, ValueError) as error:
                # Keep the last good set; retry no sooner than the refetch interval.
                log.warning("jwks fetch failed", extra={"error": type(error).__name__})
                self.fresh_until = self.clock() + self.policy.refetch_interval_seconds
                return
            self.keys = keys
            self.fresh_until = self.clock() + ttl

    async def _fetch(self) -> tuple[list[dict[str, Any]], float]:
        policy = self.policy
        async with self.client.stream(
            "GET", self.url, timeout=policy.timeout_seconds, headers={"Accept": "application/json"}
        ) as response:
            response.raise_for_status()
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise ValueError("key set larger than the size cap")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > policy.max_bytes:
                    raise ValueError("key set larger than the size cap")
            ttl = cache_lifetime(response.headers.get("cache-control"), policy)
        try:
            return _keys_of(orjson.loads(bytes(body))), ttl
        except orjson.JSONDecodeError:
            raise ValueError("key set is not JSON") from None


def cache_lifetime(cache_control: str | None, policy: FetchPolicy) -> float:
    """Seconds to reuse a fetched set: ``max-age`` within bounds; ``no-store``/``no-cache``: 0."""
    text = (cache_control or "").lower()
    if "no-store" in text or "no-cache" in text:
        return 0.0
    match = _MAX_AGE.search(text)
    if match is None:
        return policy.default_ttl_seconds
    return min(max(float(match.group(1)), policy.min_ttl_seconds), policy.max_ttl_seconds)
