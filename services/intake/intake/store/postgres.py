"""Creates on PostgreSQL: one statement, one round trip, no ORM (issue 23).

The response, its screening job (the outbox row), its AuditEvent and the relay's wake-up
(``pg_notify``, delivered at commit) are one statement of data-modifying CTEs, sent on
an autocommit connection: PostgreSQL runs it as its own transaction, so all of it or none
of it commits, and the answer arrives only after the commit (durable before ``201``).

The statement's one result row also says what happened, without a second read:

- ``created`` is 1: the response was inserted;
- otherwise ``existing`` is the row whose identifier the insert ran into: the same
  content is a replay (answered with that row, and its AuditEvent written by the same
  statement), other content a reuse (422, nothing written);
- neither: the conflicting row was committed by a concurrent create of the same
  identifier after this statement's snapshot was taken; the statement is sent again and
  then sees it (the rare case that costs a second round trip).

The pool does not ping a connection on checkout. A dead one fails its statement with
``OperationalError`` and is discarded; the pool's idle connections are then checked (they
likely died together) and the statement is sent once more on a good one. That is safe
because the retry keeps the response's id: had the first try committed before its
connection died, the retry finds the response under that id and answers ``201`` for it
without writing anything again. A second failure answers 503.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from intake import audit, responses
from intake.responses import RESPONSE_COLUMNS, CreateOutcome, ResponseRow
from intake.smart.principals import Principal
from intake.store.session import SessionStore
from intake.validation import ValidatedResponse
from shared.outbox import NOTIFY_CHANNEL
from shared.tasks import SCORE_RESPONSE

log = logging.getLogger("neuroscreen.intake")

_AUDIT_COLUMNS = ("id", "recorded", "agent", "action", "outcome", "entity_type", "patient")
_TIMESTAMPS = ("last_updated", "state_changed_at", "due_at")

# Only the model's column names are formatted in; every value is a bound parameter.
CREATE = f"""
WITH stored AS (
    INSERT INTO questionnaire_response ({", ".join(RESPONSE_COLUMNS)})
    VALUES ({", ".join(f"%({c})s" for c in RESPONSE_COLUMNS)})
    ON CONFLICT DO NOTHING
    RETURNING id
), existing AS (
    SELECT {", ".join(RESPONSE_COLUMNS)} FROM questionnaire_response
    WHERE NOT EXISTS (SELECT FROM stored)
      AND (id = %(id)s OR (identifier_value = %(identifier_value)s
                           AND identifier_system = %(identifier_system)s))
    LIMIT 1
), accepted AS (
    SELECT id FROM stored
    UNION ALL
    SELECT id FROM existing WHERE content_hash = %(content_hash)s AND id <> %(id)s
), queued AS (
    INSERT INTO outbox (task, payload, available_at, created_at)
    SELECT %(task)s, %(payload)s, %(last_updated)s, %(last_updated)s FROM stored
), audited AS (
    INSERT INTO audit_event ({", ".join(_AUDIT_COLUMNS)}, resource)
    SELECT {", ".join(f"%(audit_{c})s" for c in _AUDIT_COLUMNS)},
           replace(%(audit_resource)s::text, %(reference)s::text, 'QuestionnaireResponse/' || id)
    FROM accepted
), woken AS (
    SELECT pg_notify(%(channel)s, '') FROM stored
)
SELECT (SELECT count(*) FROM woken) AS created, existing.*
FROM (VALUES (1)) AS one LEFT JOIN existing ON true
"""  # noqa: S608


class PostgresStore:
    def __init__(self, pool: AsyncConnectionPool, fallback: SessionStore) -> None:
        self._pool = pool
        self._fallback = fallback

    @classmethod
    async def open(
        cls, database_url: str, *, pool_size: int, fallback: SessionStore
    ) -> PostgresStore:
        pool = AsyncConnectionPool(
            _conninfo(database_url),
            min_size=1,
            max_size=pool_size,
            # autocommit: the statement is its own transaction, committed before it answers.
            kwargs={"autocommit": True, "connect_timeout": 3},
            # Waiting longer for a connection than this is an outage: answer 503.
            timeout=5,
            open=False,
        )
        # Not waiting: the intake starts (and answers 503) while PostgreSQL is down.
        await pool.open(wait=False)
        return cls(pool, fallback)

    async def close(self) -> None:
        await self._pool.close()

    async def create(
        self, response: ValidatedResponse, *, principal: Principal, if_none_exist: str | None
    ) -> CreateOutcome:
        if if_none_exist:
            return await self._fallback.create(
                response, principal=principal, if_none_exist=if_none_exist
            )
        content_hash = responses.content_hash_of(response.resource)
        record, resource = responses.new_response(response, content_hash)
        parameters = _parameters(record, principal.client_id)
        for _ in range(2):
            created, existing = await self._execute(parameters)
            if created or (existing is not None and existing.id == record.id):
                return CreateOutcome(record, created=True, resource=resource)
            if existing is not None:
                return responses.replay(existing, content_hash)
            # A concurrent create of this identifier committed after our snapshot.
        raise RuntimeError("insert ignored without a duplicate identifier")

    async def _execute(self, parameters: dict[str, Any]) -> tuple[bool, ResponseRow | None]:
        try:
            return await self._once(parameters)
        except PoolTimeout:
            raise
        except psycopg.OperationalError as error:
            # A connection that died while idle in the pool (PostgreSQL restarted, a proxy
            # cut it): its siblings likely died with it. The pool drops this one; check()
            # tests the idle others and replaces the dead; then one more try.
            log.warning("database connection lost, retrying", extra={"error": type(error).__name__})
            await self._pool.check()
            return await self._once(parameters)

    async def _once(self, parameters: dict[str, Any]) -> tuple[bool, ResponseRow | None]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(CREATE, parameters)
            row = await cursor.fetchone()
        if row is None:
            raise RuntimeError("the create statement returned no row")
        created, *columns = row
        if columns[0] is None:
            return bool(created), None
        existing = ResponseRow(*columns)
        for name in _TIMESTAMPS:  # PostgreSQL answers in the session's zone; served in UTC
            value = getattr(existing, name)
            if isinstance(value, datetime):
                setattr(existing, name, value.astimezone(UTC))
        return bool(created), existing


def _parameters(record: ResponseRow, client_id: str) -> dict[str, Any]:
    (event,) = audit.access_events(
        client_id=client_id,
        interaction="create",
        resource_type="QuestionnaireResponse",
        resource_id=record.id,
        patients=[record.patient],
    )
    return {
        **record.values(),
        "task": SCORE_RESPONSE.name,
        # What shared.outbox.enqueue stores for a response's job: its id only.
        "payload": orjson.dumps({"response_id": record.id}).decode(),
        **{f"audit_{column}": event[column] for column in _AUDIT_COLUMNS},
        "audit_resource": event["resource"],
        # A replay's event names the stored response: the new id's reference is swapped.
        "reference": f"QuestionnaireResponse/{record.id}",
        "channel": NOTIFY_CHANNEL,
    }


def _conninfo(database_url: str) -> str:
    """psycopg's own URL: SQLAlchemy's ``postgresql+psycopg://`` names the driver."""
    scheme, rest = database_url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else database_url
