"""Creates through the ORM session: one ``session_scope`` transaction in the thread pool.

SQLite's create path (its driver is synchronous, and it has a single writer anyway), and
the conditional create on both databases: ``If-None-Exist`` is a FHIR search, which lives
in SQLAlchemy (:mod:`intake.records`).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from intake import conditional_create, responses
from intake.responses import CreateOutcome
from intake.smart.principals import Principal
from intake.validation import ValidatedResponse
from shared.db import session_scope


class SessionStore:
    async def create(
        self, response: ValidatedResponse, *, principal: Principal, if_none_exist: str | None
    ) -> CreateOutcome:
        return await run_in_threadpool(self._create, response, principal, if_none_exist)

    async def close(self) -> None:
        """The engine belongs to :mod:`shared.db`; nothing of the store's own to close."""

    @staticmethod
    def _create(
        response: ValidatedResponse, principal: Principal, if_none_exist: str | None
    ) -> CreateOutcome:
        with session_scope() as session:
            outcome = responses.create_response(session, response, if_none_exist=if_none_exist)
            conditional_create.record_audit(session, principal, outcome, if_none_exist)
            return outcome
