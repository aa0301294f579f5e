"""Every refused request (401, 403) leaves an AuditEvent (issue 18, item 8).

A probe with stolen, expired or under-scoped tokens is then visible in the audit
trail like any access: who (the verified client, or ``unauthenticated`` and the
peer address), what it tried (interaction and resource type, from the method and
path), why it was refused (the status and the rule broken; never query values).
"""

from __future__ import annotations

import logging
import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from intake import audit
from shared.db import session_scope
from shared.fhir.outcome import FhirError

log = logging.getLogger("neuroscreen.intake.audit")

AUDITED_STATUSES = (401, 403)
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")


async def audit_refusal(request: Request, error: FhirError) -> None:
    """Record ``error`` as refused; a failed write is logged, never a reason to answer 500."""
    client_id = getattr(request.state, "client_id", None)
    interaction, resource_type = attempted(request.method, request.url.path)
    address = request.client.host if request.client else None
    try:
        await run_in_threadpool(
            record_refusal, client_id, interaction, resource_type, error, address
        )
    except Exception as failure:
        log.error("refusal not audited", extra={"error": type(failure).__name__})


def record_refusal(
    client_id: str | None,
    interaction: str,
    resource_type: str | None,
    error: FhirError,
    address: str | None = None,
) -> None:
    with session_scope() as session:
        audit.record_refusal(
            session,
            client_id=client_id,
            interaction=interaction,
            resource_type=resource_type,
            reason=f"{error.status} {error.issues[0].diagnostics}"[:300],
            address=address,
        )


def attempted(method: str, path: str) -> tuple[str, str | None]:
    """The FHIR interaction and resource type a request was after (CDS Hooks: an operation)."""
    parts = [part for part in path.split("/") if part]
    if parts[:1] != ["fhir"]:
        return "operation", None
    parts = parts[1:]
    if not parts:
        return "batch", None
    resource_type = parts[0] if _RESOURCE_TYPE.fullmatch(parts[0]) else None
    if method == "POST":
        return "create", resource_type
    return ("read" if len(parts) > 1 else "search-type"), resource_type
