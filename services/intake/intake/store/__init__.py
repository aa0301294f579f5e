"""Where the create route stores a QuestionnaireResponse: one store per process, chosen at
start-up by the database (:func:`open_store`).

- :mod:`intake.store.postgres`: one statement, one round trip, on an async connection pool.
- :mod:`intake.store.session`: the ORM unit of work in the thread pool; SQLite's path, and
  conditional creates (``If-None-Exist`` searches first) on both databases.

Either way the response, its screening job and its AuditEvent commit together, and the
caller is answered only after the commit: accepted means durably stored and queued.
"""

from __future__ import annotations

from typing import Protocol

from intake.responses import CreateOutcome
from intake.smart.principals import Principal
from intake.store.postgres import PostgresStore
from intake.store.session import SessionStore
from intake.validation import ValidatedResponse
from shared.config import Settings


class ResponseStore(Protocol):
    async def create(
        self, response: ValidatedResponse, *, principal: Principal, if_none_exist: str | None
    ) -> CreateOutcome:
        """Store ``response`` (unless it is a replay or matches ``if_none_exist``) and audit it."""
        ...

    async def close(self) -> None: ...


async def open_store(settings: Settings) -> ResponseStore:
    if settings.uses_sqlite:
        return SessionStore()
    return await PostgresStore.open(
        settings.database_url, pool_size=settings.database_pool_size, fallback=SessionStore()
    )
