"""SMART Backend Services: discovery, the intake's public keys and the token endpoint.

None of these needs a bearer token. Token responses and refusals carry
``Cache-Control: no-store``; every grant and refusal is audited.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from intake import audit
from intake.rest import base_url
from intake.smart.assertion import (
    ASSERTION_TYPE,
    InvalidClient,
    claimed_issuer,
    verify_assertion,
)
from intake.smart.rate_limit import peer_key
from intake.smart.refusals import REFUSALS
from shared.db import session_scope
from shared.trust.access_tokens import issue_access_token
from shared.trust.algorithms import ALLOWED_ALGORITHMS
from shared.trust.scopes import ADMIN_SCOPE, grant

router = APIRouter(prefix="/fhir")

TOKEN_PATH = "/auth/token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SCOPES_SUPPORTED = [
    "system/QuestionnaireResponse.crs",
    "system/RiskAssessment.rs",
    "system/Observation.rs",
    "system/ServiceRequest.rs",
    "system/Questionnaire.rs",
    "system/CodeSystem.rs",
    "system/QuestionnaireResponse.write",
    "system/QuestionnaireResponse.read",
    ADMIN_SCOPE,
]


def token_url(request: Request) -> str:
    return base_url(request) + TOKEN_PATH


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request) -> JSONResponse:
    base = base_url(request)
    return JSONResponse(
        {
            "issuer": base,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": token_url(request),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALLOWED_ALGORITHMS),
            "scopes_supported": SCOPES_SUPPORTED,
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        }
    )


@router.get("/.well-known/jwks.json")
def jwks(request: Request) -> JSONResponse:
    """The intake's public keys (current and previous), for notify and other resource servers."""
    return JSONResponse(
        request.app.state.signing_keys.public_jwks(),
        headers={"Cache-Control": "public, max-age=300"},
    )


class _Refusal(Exception):
    def __init__(
        self, status: int, error: str, reason: str, claimed: str | None, retry_after: float = 0
    ) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason, self.claimed = status, error, reason, claimed
        self.retry_after = retry_after


@router.post(TOKEN_PATH)
async def token(request: Request) -> JSONResponse:
    state = request.app.state
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    # The claimed (unverified) client: whom to audit, nothing more. Rate limits key on
    # what an attacker cannot choose (issue 18, item 4): the peer address before the
    # assertion is verified, the verified client after.
    claimed = claimed_issuer(form.get("client_assertion", ""))
    try:
        wait = state.token_address_limiter.retry_after(peer_key(_peer(request)))
        if wait > 0:
            raise _Refusal(429, "invalid_request", "too many token requests", None, wait)
        # Every refusal is `invalid_client` (issue 12): a backend client has one thing to fix,
        # its registration or its request, and the error code does not help an attacker probe.
        if form.get("grant_type") != "client_credentials":
            raise _Refusal(400, "invalid_client", "grant_type must be client_credentials", claimed)
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _Refusal(
                400, "invalid_client", "client_assertion_type must be jwt-bearer", claimed
            )
        body, client_id = await _grant(request, form)
    except _Refusal as refusal:
        if refusal.claimed is not None and state.clients.get(refusal.claimed) is not None:
            REFUSALS.labels(client="registered").inc()
            await run_in_threadpool(_audit, refusal.claimed, False, refusal.reason)
        else:  # an attacker-chosen name, or refused unread: counted, audited in aggregate
            state.unregistered_refusals.note()
        headers = dict(NO_STORE)
        if refusal.retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
        return JSONResponse(
            {"error": refusal.error, "error_description": refusal.reason},
            status_code=refusal.status,
            headers=headers,
        )
    await run_in_threadpool(_audit, client_id, True, f"granted {body['scope']}")
    return JSONResponse(body, headers=NO_STORE)


def _peer(request: Request) -> str | None:
    # uvicorn sets the client from X-Forwarded-For only for --forwarded-allow-ips peers
    # (the ingress), so a client cannot pick its own address here.
    return request.client.host if request.client else None


async def _grant(request: Request, form: dict[str, str]) -> tuple[dict[str, Any], str]:
    state = request.app.state
    try:
        client = await verify_assertion(
            form.get("client_assertion", ""),
            registry=state.clients,
            token_url=token_url(request),
            replay=state.replay_store,
        )
    except InvalidClient as refused:
        raise _Refusal(400, "invalid_client", refused.reason, refused.claimed) from None
    wait = state.token_rate_limiter.retry_after(client.client_id)
    if wait > 0:
        raise _Refusal(429, "invalid_request", "too many token requests", client.client_id, wait)
    scope = grant(form.get("scope", ""), client.scope)
    if not scope:
        raise _Refusal(400, "invalid_client", "no requested scope is allowed", client.client_id)
    base = base_url(request)
    access_token, lifetime = issue_access_token(
        state.signing_keys.signing_key,
        issuer=base,
        audience=base,
        client_id=client.client_id,
        scope=scope,
        lifetime_seconds=state.settings.access_token_lifetime_seconds,
    )
    body = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scope": scope,
    }
    return body, client.client_id


def _audit(client_id: str, granted: bool, reason: str) -> None:
    with session_scope() as session:
        audit.record_token_request(session, client_id=client_id, granted=granted, reason=reason)
