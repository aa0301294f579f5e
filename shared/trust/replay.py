"""``jti`` replay stores: a client assertion is accepted once, never twice.

Recording a ``jti`` is one atomic operation that also tells whether it was new:
Redis ``SET NX`` with an expiry in production, an ``INSERT ... ON CONFLICT DO
NOTHING`` in the embedded default. A record lives until the assertion expires;
after that the assertion is refused for its ``exp`` anyway.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Protocol

import redis
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.config import Settings
from shared.db import session_scope
from shared.models.audit import UsedAssertion
from shared.models.base import utcnow


class ReplayStore(Protocol):
    def first_use(self, issuer: str, jti: str, expires_at: int) -> bool:
        """Record ``jti`` of ``issuer`` until ``expires_at`` (epoch s); False if already seen."""
        ...


def _digest(issuer: str, jti: str) -> str:
    # Hashed: fixed length, and nothing a client chose ends up verbatim in a key.
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


class RedisReplayStore:
    def __init__(self, url: str, prefix: str = "neuroscreen:jti:") -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        self.prefix = prefix

    def first_use(self, issuer: str, jti: str, expires_at: int) -> bool:
        ttl = max(1, expires_at - int(datetime.now(UTC).timestamp()) + 1)
        return bool(self.client.set(self.prefix + _digest(issuer, jti), b"1", nx=True, ex=ttl))


class DatabaseReplayStore:
    def first_use(self, issuer: str, jti: str, expires_at: int) -> bool:
        table = UsedAssertion.__table__
        now = utcnow()
        with session_scope() as session:
            connection = session.connection()
            insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
            statement = (
                insert(table)
                .values(digest=_digest(issuer, jti), expires_at=_at(expires_at))
                .on_conflict_do_nothing()
                .returning(table.c.digest)
            )
            inserted = connection.execute(statement).first() is not None
            # Token requests are rare: sweeping expired rows here needs no extra job.
            connection.execute(delete(table).where(table.c.expires_at < now))
        return inserted


def _at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def replay_store_for(settings: Settings) -> ReplayStore:
    """Redis when the broker is Redis (production), the database otherwise (embedded)."""
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisReplayStore(settings.broker_url)
    return DatabaseReplayStore()
